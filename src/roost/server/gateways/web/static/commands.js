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
};

export const HELP =
  "commands: " + Object.values(USAGE).join(", ") + "; SEQ is a number, last, -1, -2...; //text sends /text";

/**
 * Run one command line in conversation ``c`` (``to``: where a message to it goes);
 * resolves with the line to show ("" for none), rejects with the reason.
 */
export async function runCommand(session, c, to, me, line) {
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
      await session.request("invite", { room, user: rest[0] });
      return `invited ${rest[0]} into #${room}`;
    default:
      throw new Error(`unknown command /${word}`);
  }
}
