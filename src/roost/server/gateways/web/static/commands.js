// Slash commands of the web client: the same words as the terminal clients
// (docs/tui.md), sent as the requests of docs/protocol.md.

import { emojiOf, resolve } from "./book.js";

const USAGE = {
  edit: "/edit SEQ TEXT",
  delete: "/delete SEQ [REASON]",
  react: "/react SEQ EMOJI",
  unreact: "/unreact SEQ EMOJI",
  reply: "/reply SEQ TEXT",
  topic: "/topic [TEXT]",
  invite: "/invite NAME",
  private: "/private [on|off]",
  op: "/op NAME",
  deop: "/deop NAME",
  owner: "/owner NAME",
  roomkick: "/roomkick NAME [REASON]",
  roommute: "/roommute NAME [DURATION] [REASON]",
  roomunmute: "/roomunmute NAME",
  renameroom: "/renameroom NEW [REASON]",
  deleteroom: "/deleteroom ROOM [REASON]",
  away: "/away [REASON]",
  back: "/back",
  mentions: "/mentions",
};

const ROLES = { op: "moderator", deop: "member", owner: "owner" };
const LEVELS = ["urgent", "high", "normal", "low"]; // roost.protocol.messages.PRIORITY_NAMES

/** What a moderation result says, as the terminal clients word it (roost.client.moderation). */
export function resultText(res) {
  let text = `${res.action}: ${res.target}`;
  if (res.room) text += ` in #${res.room}`;
  if (["block", "mute", "ban", "room_mute"].includes(res.action)) {
    text += res.expires ? ` until ${new Date(res.expires * 1000).toLocaleString()}` : " until lifted";
  }
  if (res.priority !== undefined && res.priority !== null && ["priority", "admit"].includes(res.action)) {
    text += ` at ${LEVELS[res.priority] ?? res.priority} priority`;
  }
  if (res.role) text += ` as ${res.role}`;
  if (res.sessions) text += ` (${res.sessions} connection(s) ended)`;
  if (res.reason) text += `: ${res.reason}`;
  return text;
}

const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const FOREVER = ["", "0", "forever", "never", "permanent"];

/**
 * Seconds in a duration as people type it (90s, 10m, 1h30m, 2d; a bare number is
 * seconds; "", 0 and forever are 0): the rule of roost.protocol.durations. Throws
 * for text that is no duration.
 */
export function parseDuration(text) {
  const norm = (text || "").trim().toLowerCase().replaceAll(" ", "");
  if (FOREVER.includes(norm)) return 0;
  let pos = 0;
  let total = 0;
  for (const m of norm.matchAll(/(\d+(?:\.\d+)?)([smhdw]?)/g)) {
    if (m.index !== pos) break;
    total += Number(m[1]) * UNITS[m[2] || "s"];
    pos = m.index + m[0].length;
  }
  if (pos !== norm.length) throw new Error(`'${text}' is not a duration: use e.g. 90s, 10m, 2h, 1d, 1w, 1h30m or 'forever'`);
  return total;
}

function isDuration(text) {
  try {
    parseDuration(text);
  } catch {
    return false;
  }
  return Boolean((text || "").trim());
}

function inARoom(room) {
  if (room.startsWith("@")) throw new Error("this works in a room, not a private conversation");
  return room;
}

export const HELP =
  "commands: " + Object.values(USAGE).join(", ") + "; SEQ is a number, last, -1, -2...; //text sends /text";

/**
 * Run one command line in conversation ``c`` (``to``: where a message to it goes);
 * resolves with the line to show ("" for none), rejects with the reason. ``views``
 * opens the page's own views (``mentions``).
 */
export async function runCommand(session, c, to, me, line, views = {}) {
  const [word, ...rest] = line.slice(1).split(/\s+/);
  const name = word.toLowerCase();
  const usage = USAGE[name];
  if (name === "help" || name === "?") return HELP;
  if (!usage) throw new Error(`unknown command /${word}; /help lists them`);
  const need = usage.split(" ").slice(1).filter((w) => !w.startsWith("[")).length;
  if (rest.filter((w) => w).length < need) throw new Error(`usage: ${usage}`);
  const room = c.key;
  const text = rest.slice(1).join(" ");
  switch (name) {
    case "edit": {
      const seq = resolve(c, rest[0], me);
      await session.request("edit", { room, seq, text });
      return `edited #${seq}`;
    }
    case "delete": {
      const seq = resolve(c, rest[0], me);
      await session.request("delete", { room, seq, reason: text });
      return `deleted #${seq}`;
    }
    case "react":
    case "unreact":
      await session.request(name, { room, seq: resolve(c, rest[0]), emoji: emojiOf(rest[1]) });
      return "";
    case "reply":
      await session.request("send", { to, text, reply_to: resolve(c, rest[0]) });
      return "";
    case "topic": {
      if (room.startsWith("@")) throw new Error("this works in a room, not a private conversation");
      const topic = rest.join(" ").trim();
      if (!topic) {
        const rooms = await session.request("rooms");
        const found = rooms.find((r) => r.name === room);
        return found && found.topic ? `#${room}: ${found.topic}` : `#${room} has no topic`;
      }
      await session.request("set_room", { room, topic: topic === "-" ? "" : topic });
      return "";
    }
    case "invite":
      await session.request("invite", { room: inARoom(room), user: rest[0] });
      return `invited ${rest[0]} into #${room}`;
    case "private": {
      const want = !["off", "no", "false", "0"].includes((rest[0] || "on").toLowerCase());
      const info = await session.request("set_room", { room: inARoom(room), private: want });
      return `#${room} is ${info.private ? "private (invitation only)" : "public"} now`;
    }
    case "op":
    case "deop":
    case "owner":
      return resultText(await session.request("room_role", { room: inARoom(room), user: rest[0], role: ROLES[name] }));
    case "roomkick":
      return resultText(await session.request("room_kick", { room: inARoom(room), user: rest[0], reason: text }));
    case "roommute": {
      // An optional duration comes first: "/roommute bob 10m spamming".
      const timed = isDuration(rest[1]);
      const duration = timed ? parseDuration(rest[1]) : 0;
      const reason = rest.slice(timed ? 2 : 1).join(" ");
      return resultText(await session.request("room_mute", { room: inARoom(room), user: rest[0], duration, reason }));
    }
    case "roomunmute":
      return resultText(await session.request("room_unmute", { room: inARoom(room), user: rest[0] }));
    case "renameroom":
      return resultText(await session.request("rename_room", { room: inARoom(room), new: rest[0], reason: text }));
    case "deleteroom":
      // The room is named again on purpose: deleting is for good.
      return resultText(await session.request("delete_room", { room: rest[0], reason: text }));
    case "away": {
      const reason = rest.join(" ").trim();
      await session.request("away", { away: true, reason });
      return `you are away${reason ? ": " + reason : ""}; /back when you return`;
    }
    case "back":
      await session.request("away", { away: false });
      return "you are back";
    case "mentions":
      views.mentions();
      return "";
    default:
      throw new Error(`unknown command /${word}`);
  }
}
