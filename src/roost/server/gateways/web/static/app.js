// The Roost web client. Every text from the network goes into the page with
// textContent (never innerHTML), so a message cannot carry markup.

import { isText, label, quote, take } from "./book.js";
import { parseDuration, resultText, runCommand } from "./commands.js";
import { download, upload } from "./files.js";
import { mentionsMe, mentionsOf } from "./mentions.js";
import { FINAL_BYES, RequestError, Session } from "./protocol.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50; // messages per scroll-back page
const UNREAD_BACK = 1000; // at most this many messages before the newest are fetched to show what is unread
const IDLE_AWAY = 600; // seconds without a key press or click before one is shown away ("idle")
const IDLE_REASON = "idle"; // the away reason of idle-away, in every tab and client (docs/protocol.md 7.8)
const LEVELS = ["urgent", "high", "normal", "low"];
const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";

const state = {
  session: null,
  me: "",
  role: "member",
  current: "general",
  convs: new Map(), // key -> conversation
  renamed: new Map(), // old room name -> its name now (docs/protocol.md 6)
  priority: 2, // the account's level
  retry: 0,
  final: false, // the server said not to come back (blocked, kicked...)
  loggedIn: false, // a session is established (only then does a lost connection reconnect)
  membersTimer: null,
  title: "Roost",
  limits: {}, // the hello's limits (docs/protocol.md 2)
  away: null, // one's own away reason while away (any session of the account), else null
  autoAway: false, // away because idle (set by any session): the next key press or click brings one back
  idleTimer: null,
  mentions: [], // the mentions view's messages, oldest first (docs/protocol.md 7.7)
  mentionsMore: false, // its oldest page was full: older ones may be there
  mentionsAsk: 0, // the latest mentions request: an earlier reply is dropped
};

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function isDm(key) {
  return key.startsWith("@");
}

function dmKey(a, b) {
  return "@" + [a, b].sort().join("+");
}

// Where a message to conversation ``key`` is sent: the room, or "@" and the other party.
function target(key) {
  if (!isDm(key)) return key;
  return "@" + (key.slice(1).split("+").find((u) => u !== state.me) || state.me);
}

function convTitle(key) {
  return isDm(key) ? target(key) : "#" + key;
}

function conv(key) {
  let c = state.convs.get(key);
  if (!c) {
    c = {
      key,
      msgs: new Map(), // seq -> message
      last: 0, // highest seq held
      // every seq from the first one fetched up to cursor is held: resume and
      // gaps fetch from here, so a hole below a later message is refilled too
      cursor: null,
      serverLast: 0,
      read: null, // the read marker, kept on the server (null: none yet)
      mentions: 0, // mentions of me after the read marker
      readTimer: null,
      typing: new Map(), // user -> when their "is typing" ends (ms)
      pending: new Map(), // seq -> the edits and reactions waiting for that message
      applied: new Set(), // seqs of the events folded in already
    };
    state.convs.set(key, c);
  }
  return c;
}

function unread(c) {
  if (c.read === null) return 0;
  let n = 0;
  for (const [seq, m] of c.msgs) if (seq > c.read && m.sender !== state.me && isText(m)) n++;
  return n;
}

// A message goes out at the account's level or a less important one (docs/priority.md).
function priorityChoices() {
  const select = $("priority");
  select.replaceChildren();
  for (let level = state.priority; level < LEVELS.length; level++) {
    const option = el("option", LEVELS[level]);
    option.value = String(level);
    select.append(option);
  }
  select.value = String(state.priority);
}

function setStatus(text) {
  $("status").textContent = text;
}

function banner(text) {
  const b = $("banner");
  b.textContent = text;
  b.hidden = !text;
}

// --- connection --------------------------------------------------------------

async function connect() {
  setStatus(state.retry ? "reconnecting" : "connecting");
  const session = new Session(wsUrl, onEvent, onClose);
  state.session = session;
  let hello;
  try {
    hello = await session.opened;
  } catch {
    return; // onClose schedules the next try
  }
  state.title = hello.server || "Roost";
  state.limits = hello.limits || {};
  $("server-name").textContent = state.title;
  try {
    const result = await session.request("resume", { token: "" });
    await startSession(result);
  } catch (err) {
    if (err instanceof RequestError && err.code !== "closed") {
      if (err.code === "blocked" || err.code === "banned") banner(err.message);
      // No session to resume: the login form opens a new connection when used
      // (an idle one would only run into the server's login timeout).
      state.session = null;
      session.close();
      showLogin();
    }
  }
}

function onClose(bye, session) {
  if (session !== state.session) return; // an older connection, already replaced
  if (!state.loggedIn) {
    if (bye && bye.code !== "logout") $("login-error").textContent = `${bye.code}: ${bye.reason}`;
    state.session = null;
    return;
  }
  const final = bye && FINAL_BYES.has(bye.code);
  if (bye) banner(`Disconnected (${bye.code}): ${bye.reason}`);
  if (final || state.final) {
    state.final = true;
    state.loggedIn = false;
    setStatus("disconnected");
    if (bye.code !== "logout") showLogin(`${bye.code}: ${bye.reason}`);
    return;
  }
  setStatus("offline, reconnecting");
  const delay = Math.min(5000, 250 * 2 ** state.retry);
  state.retry += 1;
  setTimeout(connect, delay);
}

async function keepCookie(ticket) {
  if (!ticket) return;
  // The ticket is exchanged for an HttpOnly cookie holding the session token.
  await fetch("/session", { method: "POST", body: ticket, credentials: "same-origin" });
}

async function startSession(result) {
  state.me = result.user;
  state.role = result.role;
  state.priority = result.priority;
  priorityChoices();
  showMe();
  $("logout").hidden = false;
  state.loggedIn = true;
  if (result.status === "pending") {
    showPending();
    return;
  }
  await keepCookie(result.token);
  state.retry = 0;
  banner("");
  setStatus("online");
  active();
  $("open-mod").hidden = !(result.role === "moderator" || result.role === "admin");
  for (const room of result.rooms) conv(room);
  // Rooms renamed while this page was away: moved first, then compared (docs/protocol.md 4).
  for (const [old, now] of Object.entries(result.renamed || {})) {
    if (state.convs.has(old)) renameConv(old, now, "");
    else state.renamed.set(old, now);
  }
  for (const [key, last] of Object.entries(result.conversations || {})) conv(key).serverLast = last;
  // Read markers and mentions are the server's, the same on every device (docs/protocol.md 7.6).
  const read = result.read || {};
  const returning = Object.keys(read).length > 0;
  for (const c of state.convs.values()) {
    if (read[c.key] !== undefined) c.read = Math.max(c.read ?? 0, read[c.key]);
    // A direct conversation without a marker began while a returning user was away: all unread.
    else if (c.read === null && returning && isDm(c.key)) c.read = 0;
    c.mentions = (result.mentions || {})[c.key] || 0;
  }
  showChat();
  // Catch up every conversation: what was missed since the cursor, or the newest page.
  await Promise.all([...state.convs.values()].map((c) => catchUp(c)));
  if (!state.convs.has(state.current)) state.current = result.rooms[0] || "general";
  if (mentionsShown()) {
    renderNav();
    loadMentions(false); // a reconnect keeps the view and brings it up to date
  } else openConv(state.current);
}

async function catchUp(c) {
  if (c.cursor === null) {
    // The newest page, or from the read marker on: what is unread is there to read.
    const from = Math.min(c.serverLast - PAGE, c.read ?? c.serverLast);
    c.cursor = Math.max(0, from, c.serverLast - UNREAD_BACK);
  }
  if (c.serverLast <= c.cursor) return;
  let after = c.cursor;
  for (;;) {
    const res = await state.session.request("history", { room: c.key, after, limit: 500 });
    let top = after;
    for (const m of res.messages) {
      addMessage(m, false);
      top = Math.max(top, m.seq);
    }
    if (!res.messages.length || top >= res.last_seq) break;
    after = top;
  }
  if (c.read === null) c.read = c.last;
  renderNav();
  if (c.key === state.current) renderLog();
}

// --- events ------------------------------------------------------------------

function onEvent(msg) {
  // A frame queued under a room's old name may come after the rename's notice,
  // which overtakes it (docs/protocol.md 6): it belongs to the room's new name.
  const now = msg.t !== "room_renamed" && msg.room && state.renamed.get(msg.room);
  if (now) msg = { ...msg, room: now };
  switch (msg.t) {
    case "msg":
      addMessage(msg, true);
      break;
    case "gap": {
      // Skipped live delivery (a slow connection): fetch from the cursor on.
      const c = conv(msg.room);
      c.serverLast = Math.max(c.serverLast, msg.upto);
      catchUp(c);
      break;
    }
    case "left":
      if (msg.user === state.me && msg.by) {
        dropConv(msg.room, `${msg.by} put you out of #${msg.room}${msg.reason ? ": " + msg.reason : ""}`);
        break;
      }
      membersSoon();
      break;
    case "joined":
      membersSoon();
      break;
    case "presence":
      if (msg.user === state.me) ownAway(msg.away, msg.reason);
      membersSoon();
      break;
    case "read": {
      // This user read it elsewhere (another tab or device): the unread mark follows.
      const c = state.convs.get(msg.room);
      if (c && msg.seq >= (c.read ?? 0)) {
        c.read = msg.seq;
        c.mentions = msg.mentions || 0; // left out when 0
        renderNav();
      }
      break;
    }
    case "typing":
      // Only in a conversation the page has: a stranger typing to one makes no empty entry.
      if (msg.user !== state.me && state.convs.has(msg.room)) {
        const wait = (state.limits.typing_interval ?? 3) * 1000 + 1000;
        state.convs.get(msg.room).typing.set(msg.user, Date.now() + wait);
        renderTyping();
        setTimeout(renderTyping, wait + 50);
      }
      break;
    case "notice":
      systemLine(msg.text, msg.room || state.current);
      // A room's notices tell of role changes and mutes, which the members list shows.
      if (msg.room && msg.room === state.current) membersSoon();
      break;
    case "admitted":
      startSession(msg.session);
      break;
    case "moderation":
      if ($("mod-dialog").open) refreshModeration();
      break;
    case "room_changed":
      systemLine(
        `#${msg.room} is ${msg.private ? "private" : "public"}, ` +
          (msg.topic ? `topic: ${msg.topic}` : "no topic") +
          ` (set by ${msg.by})`,
        msg.room,
      );
      break;
    case "invited":
      systemLine(`${msg.by} invites you into #${msg.room}; join it to go in`, state.current);
      break;
    case "room_deleted":
      dropConv(msg.room, `#${msg.room} was deleted by ${msg.by}${msg.reason ? ": " + msg.reason : ""}`);
      break;
    case "room_renamed":
      renameConv(msg.room, msg.new, `#${msg.room} is now #${msg.new} (renamed by ${msg.by}${msg.reason ? ": " + msg.reason : ""})`);
      break;
    default:
      break;
  }
}

function addMessage(m, live) {
  const c = conv(m.room);
  if (c.msgs.has(m.seq)) return; // live delivery and history may overlap
  c.msgs.set(m.seq, m);
  c.last = Math.max(c.last, m.seq);
  if (c.cursor === null) c.cursor = m.seq - 1;
  while (c.msgs.has(c.cursor + 1)) c.cursor += 1;
  c.serverLast = Math.max(c.serverLast, m.seq);
  if (c.read === null) c.read = m.seq - 1;
  const changed = take(c, m);
  if (!isText(m)) {
    // An edit, deletion or reaction: its message is drawn again, it is no line of its own.
    if (changed && m.room === state.current) redraw(changed);
    return;
  }
  if (!live) return;
  if (c.typing.delete(m.sender) && m.room === state.current) renderTyping();
  const seen = onScreen(m.room) && !document.hidden;
  if (m.room === state.current) appendMessage(m);
  if (seen || m.sender === state.me) markRead(c);
  // Counted as the server counts (@name only, docs/protocol.md 7.7), so the live @N is the
  // server's; the highlight (mentionsMe) also takes the bare name.
  else if (m.seq > (c.read ?? 0) && mentionsOf(m.text).has(state.me.toLowerCase())) c.mentions += 1;
  if (m.sender !== state.me && mentionsShown() && mentionsOf(m.text).has(state.me.toLowerCase())) {
    // The view shows a new mention as it comes (unless its reply, just in, has it).
    if (!state.mentions.some((x) => x.room === m.room && x.seq === m.seq)) state.mentions.push(m);
    renderMentions();
  }
  if (m.sender !== state.me) {
    if (!seen) notify(m);
    // Screen readers hear new messages here, not the whole log when it is redrawn.
    const where = onScreen(m.room) ? "" : ` in ${convTitle(m.room)}`;
    const urgent = m.priority === 0 ? "urgent, " : "";
    $("announce").textContent = `${urgent}${m.sender}${where}: ${m.text}`;
  }
  renderNav();
}

// Draw message ``m`` again, and the replies that quote it (an edit changes their quote).
function redraw(m) {
  const c = conv(m.room);
  for (const item of [m, ...[...c.msgs.values()].filter((r) => r.reply_to === m.seq)]) {
    const old = $("log").querySelector(`li.msg[data-seq="${item.seq}"]`);
    if (old) old.replaceWith(messageItem(item));
  }
}

function dropConv(key, why) {
  state.convs.delete(key);
  if (mentionsShown()) {
    state.mentions = state.mentions.filter((m) => m.room !== key);
    renderMentions();
  }
  if (state.current === key) replaceCurrent("general");
  else renderNav();
  systemLine(why, state.current);
}

// Room ``old`` is ``now`` (same seqs, docs/protocol.md 6): its messages, marks and view move.
function renameConv(old, now, why) {
  for (const [earlier, name] of state.renamed) if (name === old) state.renamed.set(earlier, now);
  state.renamed.set(old, now);
  const c = state.convs.get(old);
  if (c) {
    state.convs.delete(old);
    c.key = now;
    for (const [seq, m] of c.msgs) c.msgs.set(seq, { ...m, room: now });
    state.convs.set(now, c);
  }
  if (mentionsShown()) {
    state.mentions = state.mentions.map((m) => (m.room === old ? { ...m, room: now } : m));
    renderMentions();
  }
  if (state.current === old) replaceCurrent(now);
  else renderNav();
  if (why) systemLine(why, state.current);
}

// Conversation ``key`` takes the place of the current one (gone, or renamed); behind
// the mentions view it is drawn when the view is left.
function replaceCurrent(key) {
  if (!mentionsShown()) return openConv(key);
  state.current = key;
  renderNav();
}

function systemLine(text, key) {
  if (key !== state.current) return;
  $("log").append(el("li", text, "system"));
}

// --- views ---------------------------------------------------------------------

function showLogin(reason) {
  $("chat-view").hidden = true;
  $("login-view").hidden = false;
  $("login-form").hidden = false;
  $("pending-view").hidden = true;
  $("logout").hidden = true;
  $("open-mod").hidden = true;
  setStatus(state.final ? "disconnected" : "not logged in");
  if (reason) $("login-error").textContent = reason;
  if (!$("login-form").contains(document.activeElement)) $("login-user").focus();
}

function showPending() {
  $("chat-view").hidden = true;
  $("login-view").hidden = false;
  $("login-form").hidden = true;
  $("pending-view").hidden = false;
  setStatus("waiting for admission");
}

function showChat() {
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("toggle-members").hidden = false;
}

function renderNav() {
  const rooms = $("room-list");
  const dms = $("dm-list");
  rooms.replaceChildren();
  dms.replaceChildren();
  const keys = [...state.convs.keys()].sort();
  for (const key of keys) {
    const c = state.convs.get(key);
    const li = el("li");
    const button = el("button", convTitle(key), "conv");
    button.dataset.key = key;
    const n = unread(c);
    if (n) {
      const badge = el("span", String(n), "badge");
      badge.setAttribute("aria-label", `${n} unread`);
      button.append(" ", badge);
    }
    if (n && c.mentions) {
      const badge = el("span", `@${c.mentions}`, "badge mention");
      badge.setAttribute("aria-label", `${c.mentions} mentioning you`);
      button.append(" ", badge);
    }
    if (onScreen(key)) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => openConv(key));
    li.append(button);
    (isDm(key) ? dms : rooms).append(li);
  }
  if (mentionsShown()) $("open-mentions").setAttribute("aria-current", "true");
  else $("open-mentions").removeAttribute("aria-current");
  const total = unreadTotal();
  document.title = total ? `(${total}) ${state.title}` : state.title;
}

// Read up to the newest message held: the server keeps the marker (a burst of
// messages sends one request).
function markRead(c) {
  if (c.read !== null && c.read >= c.last) return;
  c.read = c.last;
  c.mentions = 0;
  if (c.readTimer || !state.session || !c.last) return;
  c.readTimer = setTimeout(() => {
    c.readTimer = null;
    state.session.request("read", { room: c.key, seq: c.read }).catch(() => {});
  }, 250);
}

function unreadTotal() {
  let n = 0;
  for (const c of state.convs.values()) n += unread(c);
  return n;
}

// A desktop notification for a mention, a direct message or an urgent message not
// on screen, if the user allowed them (the "Notify me" button asks).
function notify(m) {
  const urgent = m.priority === 0;
  if (!(urgent || isDm(m.room) || mentionsMe(m.text, state.me))) return;
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const where = isDm(m.room) ? "" : ` in ${convTitle(m.room)}`;
  try {
    new Notification(`${urgent ? "URGENT " : ""}${m.sender}${where}`, { body: m.text, tag: m.room });
  } catch {
    // Some browsers (Chrome on Android) refuse the constructor: no notification, events go on.
  }
}

// One's own away state, from a presence event or the members list (any session of the
// account may have set it). Away with reason "idle" is idle-away, whichever tab or client
// set it: the next key press or click here brings one back; another reason is left alone.
function ownAway(away, reason) {
  state.away = away ? reason || "" : null;
  state.autoAway = away === true && state.away === IDLE_REASON;
  showMe();
}

function showMe() {
  const role = state.role !== "member" ? ` (${state.role})` : "";
  const away = state.away === null ? "" : ` — away${state.away ? ": " + state.away : ""}`;
  $("me").textContent = state.me + role + away;
}

function renderTyping() {
  const c = state.convs.get(state.current);
  const now = Date.now();
  const who = [];
  if (c) {
    for (const [user, until] of c.typing) {
      if (until > now) who.push(user);
      else c.typing.delete(user);
    }
  }
  who.sort();
  const text = !who.length
    ? ""
    : who.length === 1
      ? `${who[0]} is typing…`
      : who.length < 4
        ? `${who.slice(0, -1).join(", ")} and ${who.at(-1)} are typing…`
        : "several people are typing…";
  $("typing").textContent = text;
}

// At most one "typing" request per conversation and typing_interval (the server
// relays no more often), none for commands.
function noteTyping() {
  const text = $("text").value;
  const interval = state.limits.typing_interval ?? 3;
  if (!state.session || !text.trim() || interval <= 0) return;
  if (text.startsWith("/") && !text.startsWith("//")) return;
  const c = conv(state.current);
  const now = Date.now();
  if (now - (c.typedAt || 0) < interval * 1000) return;
  c.typedAt = now;
  state.session.request("typing", { to: target(state.current) }).catch(() => {});
}

// Idle detection is the client's (docs/protocol.md 7.8): away with reason "idle"
// after IDLE_AWAY seconds (localStorage "roost.idle_away" overrides; 0: never).
function idleSeconds() {
  const set = Number(localStorage.getItem("roost.idle_away"));
  return Number.isFinite(set) && localStorage.getItem("roost.idle_away") !== null ? set : IDLE_AWAY;
}

function active() {
  if (state.autoAway && state.session && state.loggedIn) {
    state.autoAway = false;
    state.session.request("away", { away: false }).catch(() => {});
  }
  clearTimeout(state.idleTimer);
  const seconds = idleSeconds();
  if (seconds > 0) state.idleTimer = setTimeout(goIdle, seconds * 1000);
}

function goIdle() {
  if (!state.loggedIn || !state.session || state.away !== null) return;
  state.autoAway = true;
  state.session.request("away", { away: true, reason: IDLE_REASON }).catch(() => {
    state.autoAway = false;
  });
}

function openConv(key) {
  const c = conv(key);
  // A mark from the mentions view stays while its conversation stays on screen.
  if (key !== state.current || mentionsShown()) c.jumped = null;
  state.current = key;
  showMentionsView(false);
  $("conv-title").textContent = convTitle(key);
  if (!document.hidden) markRead(c); // a hidden tab has not shown it to anyone
  renderNav();
  renderLog();
  renderTyping();
  loadMembers();
  closePanels();
}

function renderLog() {
  const c = conv(state.current);
  const log = $("log");
  const refocus = document.activeElement?.classList.contains("jumped");
  log.replaceChildren();
  const seqs = [...c.msgs.keys()].sort((a, b) => a - b);
  for (const seq of seqs) if (isText(c.msgs.get(seq))) log.append(messageItem(c.msgs.get(seq)));
  $("older").hidden = !seqs.length || seqs[0] <= 1;
  // The message opened from the mentions view keeps the reader's place (and focus).
  const jumped = c.jumped && log.querySelector(`li.msg[data-seq="${c.jumped}"]`);
  if (!jumped) return scrollDown();
  jumped.scrollIntoView({ block: "center" });
  if (refocus) jumped.focus();
}

function appendMessage(m) {
  const log = $("log");
  const item = messageItem(m);
  // In seq order: a message may arrive after a later one of a higher priority.
  const after = [...log.children].find((li) => Number(li.dataset.seq) > m.seq);
  if (after) log.insertBefore(item, after);
  else log.append(item);
  scrollDown();
}

function scrollDown() {
  const log = $("log");
  log.scrollTop = log.scrollHeight;
}

function messageItem(m) {
  const li = el("li", null, "msg");
  li.dataset.seq = String(m.seq);
  if (m.sender !== state.me && !m.removed && mentionsMe(m.text, state.me)) li.classList.add("mention");
  if (conv(m.room).jumped === m.seq) {
    li.classList.add("jumped"); // opened from the mentions view
    li.tabIndex = -1;
  }
  if (m.priority === 0) {
    li.classList.add("urgent");
    li.append(el("span", "URGENT", "urgent-mark"));
  }
  const who = el("span", m.sender, "sender");
  li.append(who, " ", el("span", `#${m.seq}`, "seq"), " ", stamp(m.ts, false));
  if (m.reply_to) li.append(el("div", quote(conv(m.room), m.reply_to), "quote"));
  const text = el("div", label(m), m.removed ? "text removed" : "text");
  if (m.edited && !m.removed) text.append(" ", el("span", "(edited)", "edited"));
  li.append(text);
  if (m.file && !m.removed) li.append(fileOffer(m.file));
  if (m.reactions && m.reactions.size && !m.removed) li.append(reactionChips(m));
  return li;
}

// When a message was sent, as a <time>: the time of day, or with ``day`` the date too.
function stamp(ts, day) {
  const at = new Date(ts * 1000);
  const when = el("time", day ? at.toLocaleString() : at.toLocaleTimeString(), "when");
  when.dateTime = at.toISOString();
  return when;
}

// One button per emoji with its count; pressing it adds or takes back one's own.
function reactionChips(m) {
  const box = el("div", null, "reactions");
  for (const [emoji, users] of m.reactions) {
    const mine = users.has(state.me);
    const chip = el("button", `${emoji} ${users.size}`, mine ? "reaction mine" : "reaction");
    chip.setAttribute("aria-pressed", String(mine));
    chip.title = [...users].sort().join(", ");
    chip.addEventListener("click", async () => {
      try {
        await state.session.request(mine ? "unreact" : "react", { room: m.room, seq: m.seq, emoji });
      } catch (err) {
        systemLine(err.message, m.room);
      }
    });
    box.append(chip);
  }
  return box;
}

function fileOffer(file) {
  const box = el("div", null, "file");
  const button = el("button", `Download ${file.name} (${formatSize(file.size)})`, "download");
  button.setAttribute("aria-label", `Download file ${file.name}`);
  button.addEventListener("click", () => fetchFile(file));
  box.append(button);
  return box;
}

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// Fetch the messages of ``c`` with after < seq < before, oldest first, a reply at a
// time (one holds at most history_page, and fewer near the frame limit).
async function fetchBetween(c, after, before) {
  while (after < before - 1) {
    const res = await state.session.request("history", { room: c.key, after, before, limit: before - after - 1 });
    if (!res.messages.length) break;
    for (const m of res.messages) {
      addMessage(m, false);
      after = Math.max(after, m.seq);
    }
  }
}

async function loadOlder() {
  const c = conv(state.current);
  const oldest = Math.min(...c.msgs.keys());
  if (!Number.isFinite(oldest) || oldest <= 1) return;
  await fetchBetween(c, Math.max(0, oldest - PAGE - 1), oldest);
  const log = $("log");
  const height = log.scrollHeight;
  renderLog();
  log.scrollTop = log.scrollHeight - height; // keep the reader's place
}

// --- the mentions view ----------------------------------------------------------

function mentionsShown() {
  return !$("mentions-view").hidden;
}

// Conversation ``key`` is the one on screen (not behind the mentions view).
function onScreen(key) {
  return key === state.current && !mentionsShown();
}

function showMentionsView(shown) {
  $("mentions-view").hidden = !shown;
  $("conversation").hidden = shown;
}

function openMentions() {
  showMentionsView(true);
  state.mentions = [];
  state.mentionsMore = false;
  renderMentions();
  $("mentions-note").textContent = "Loading…";
  renderNav();
  closePanels();
  loadMentions(false);
  $("mention-list").focus();
}

// The newest page of mentions, or with ``older`` the page before those shown (by ts).
async function loadMentions(older) {
  const ask = ++state.mentionsAsk;
  const limit = Math.min(PAGE, state.limits.history_page || PAGE);
  const before = older && state.mentions.length ? state.mentions[0].ts : 0;
  let found;
  try {
    found = await state.session.request("mentions", { limit, before });
  } catch (err) {
    if (ask === state.mentionsAsk) $("mentions-note").textContent = `cannot list mentions: ${err.message}`;
    return;
  }
  if (ask !== state.mentionsAsk) return; // asked again since
  state.mentions = older ? [...found, ...state.mentions] : found;
  state.mentionsMore = found.length >= limit;
  const list = $("mention-list");
  const height = list.scrollHeight;
  renderMentions();
  if (older) list.scrollTop = list.scrollHeight - height; // keep the reader's place
}

function renderMentions() {
  const list = $("mention-list");
  list.replaceChildren();
  for (const m of state.mentions) {
    const li = el("li", null, "mentioned");
    li.dataset.room = m.room;
    li.dataset.seq = String(m.seq);
    const open = el("button", null, "mention-entry");
    open.append(el("span", convTitle(m.room), "where"), " ", el("span", m.sender, "sender"), " ", stamp(m.ts, true));
    open.append(el("div", label(m), "text"));
    open.addEventListener("click", () => openAt(m.room, m.seq));
    li.append(open);
    list.append(li);
  }
  $("older-mentions").hidden = !state.mentionsMore;
  $("mentions-note").textContent = state.mentions.length ? "" : "No one has mentioned you yet.";
  list.scrollTop = list.scrollHeight; // the newest last, as in a conversation
}

// Open conversation ``key`` at message ``seq``, marked: fetched back to it first when
// the page does not hold it (at most UNREAD_BACK before the oldest held).
async function openAt(key, seq) {
  const c = conv(key);
  openConv(key);
  const oldest = c.msgs.size ? Math.min(...c.msgs.keys()) : c.serverLast + 1;
  if (!c.msgs.has(seq) && seq < oldest && oldest - seq <= UNREAD_BACK) {
    try {
      await fetchBetween(c, seq - 1, oldest);
    } catch (err) {
      systemLine(`cannot fetch #${seq}: ${err.message}`, key);
      return;
    }
  }
  if (!onScreen(key)) return; // the reader went elsewhere meanwhile
  c.jumped = seq;
  renderLog(); // at the message, marked
  const item = $("log").querySelector(`li.msg[data-seq="${seq}"]`);
  if (item) item.focus();
  else systemLine(`#${seq} is further back: Load older messages to reach it`, key);
}

// Presence comes in bursts (a team arriving in the morning): one "who" per burst.
function membersSoon() {
  if (state.membersTimer) return;
  state.membersTimer = setTimeout(() => {
    state.membersTimer = null;
    if (state.convs.has(state.current)) loadMembers();
  }, 300);
}

async function loadMembers() {
  const key = state.current;
  const list = $("member-list");
  let members;
  if (isDm(key)) {
    members = key.slice(1).split("+").map((user) => ({ user, online: null, role: "" }));
  } else {
    try {
      members = await state.session.request("who", { room: key });
    } catch {
      return;
    }
  }
  if (key !== state.current) return;
  list.replaceChildren();
  for (const m of members) {
    const li = el("li", null, "member");
    const dot = el("span", m.online ? "●" : "○", m.online ? "online" : "offline");
    dot.setAttribute("aria-hidden", "true");
    li.append(dot, " ", el("span", m.user, "name"));
    if (m.online !== null) {
      const away = m.online && m.away ? `away${m.reason ? ": " + m.reason : ""}` : "";
      li.append(" ", el("span", away || (m.online ? "online" : "offline"), away ? "presence away" : "presence"));
    }
    // A tab opened while away hears of no change: the list tells it (idle-away included).
    if (m.user === state.me && m.online && (m.away ? m.reason || "" : null) !== state.away) {
      ownAway(Boolean(m.away), m.reason);
    }
    if (m.role && m.role !== "member") li.append(" ", el("span", m.role, "role"));
    if (m.room_role) li.append(" ", el("span", `room ${m.room_role}`, "role"));
    if (m.muted) li.append(" ", el("span", "muted here", "role"));
    if (m.user !== state.me) {
      const dm = el("button", "Message", "small");
      dm.setAttribute("aria-label", `Message ${m.user}`);
      dm.addEventListener("click", () => openConv(dmKey(state.me, m.user)));
      li.append(" ", dm);
      if (isModerator()) {
        const mod = el("button", "Moderate", "small");
        mod.setAttribute("aria-label", `Moderate ${m.user}`);
        mod.addEventListener("click", () => openModeration(m.user));
        li.append(" ", mod);
      }
    }
    list.append(li);
  }
}

function isModerator() {
  return state.role === "moderator" || state.role === "admin";
}

function closePanels() {
  for (const [panel, toggle] of [["nav", "toggle-nav"], ["members", "toggle-members"]]) {
    $(panel).classList.remove("shown");
    $(toggle).setAttribute("aria-expanded", "false");
  }
}

function togglePanel(panel, toggle) {
  const shown = $(panel).classList.toggle("shown");
  $(toggle).setAttribute("aria-expanded", String(shown));
  if (shown) $(panel).querySelector("button, input")?.focus();
}

// --- sending -------------------------------------------------------------------

async function sendText() {
  const box = $("text");
  const text = box.value;
  if (!text.trim()) return;
  const level = Number($("priority").value);
  const key = state.current;
  const to = target(key);
  if (text.startsWith("/") && !text.startsWith("//")) {
    box.value = "";
    try {
      const said = await runCommand(state.session, conv(key), to, state.me, text.trim(), { mentions: openMentions });
      if (said) systemLine(said, key);
    } catch (err) {
      box.value = text; // to correct it
      systemLine(err.message, key);
    }
    return;
  }
  try {
    box.value = "";
    const body = text.startsWith("//") ? text.slice(1) : text;
    await state.session.request("send", { to, text: body, priority: level === state.priority ? null : level });
    $("priority").value = String(state.priority);
  } catch (err) {
    box.value = text; // nothing is lost: the text comes back to the box
    systemLine(`not sent: ${err.message}`, key);
  }
}

function transferLine(label) {
  const row = el("div", null, "transfer");
  const name = el("span", label);
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute("aria-label", label);
  const note = el("span", "", "note");
  row.append(name, " ", bar, " ", note);
  $("transfers").append(row);
  return {
    progress(done, total) {
      bar.max = total || 1;
      bar.value = done;
    },
    done(text) {
      note.textContent = text;
      bar.value = bar.max;
    },
    row,
  };
}

async function sendFile(file) {
  const to = target(state.current);
  const line = transferLine(`Uploading ${file.name}`);
  try {
    const res = await upload(state.session, to, file, line.progress);
    line.done(`sent, SHA-256 ${res.file.sha256}`);
    line.row.dataset.sha256 = res.file.sha256;
  } catch (err) {
    line.done(`failed: ${err.message}`);
  }
}

async function fetchFile(file) {
  const line = transferLine(`Downloading ${file.name}`);
  try {
    const { blob, sha256 } = await download(state.session, file, line.progress);
    line.done(`SHA-256 checked: ${sha256}`);
    line.row.dataset.sha256 = sha256;
    line.row.classList.add("checked");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = file.name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  } catch (err) {
    line.done(`not saved: ${err.message}`);
  }
}

// --- moderation ------------------------------------------------------------------

function openModeration(user) {
  if (user) $("mod-user").value = user;
  $("mod-dialog").showModal();
  refreshModeration();
  (user ? $("mod-action") : $("mod-user")).focus();
}

async function refreshModeration() {
  const s = state.session;
  const [pending, blocks, audit] = await Promise.all([
    s.request("pending").catch(() => []),
    s.request("blocks").catch(() => []),
    s.request("audit", { limit: 50 }).catch(() => []),
  ]);
  const plist = $("pending-list");
  plist.replaceChildren();
  if (!pending.length) plist.append(el("li", "Nobody is waiting."));
  for (const p of pending) {
    const li = el("li", null, "pending");
    li.append(el("span", p.user, "name"), " ", el("span", p.online ? "online" : "offline"), " ");
    const admit = el("button", "Admit", "small");
    admit.setAttribute("aria-label", `Admit ${p.user}`);
    admit.addEventListener("click", () => moderate("admit", { user: p.user }));
    const refuse = el("button", "Refuse", "small");
    refuse.setAttribute("aria-label", `Refuse ${p.user}`);
    refuse.addEventListener("click", () => moderate("refuse", { user: p.user, reason: $("mod-reason").value }));
    li.append(admit, " ", refuse);
    plist.append(li);
  }
  const blist = $("blocks-list");
  blist.replaceChildren();
  if (!blocks.length) blist.append(el("li", "None."));
  for (const b of blocks) {
    const until = b.expires ? new Date(b.expires * 1000).toLocaleString() : "until lifted";
    blist.append(el("li", `${b.kind} ${b.target} by ${b.author}, ${until}: ${b.reason || "no reason"}`));
  }
  const alist = $("audit-list");
  alist.replaceChildren();
  for (const a of audit) {
    alist.append(el("li", `${new Date(a.ts * 1000).toLocaleString()} ${a.text}`));
  }
}

async function moderate(action, fields) {
  const out = $("mod-result");
  try {
    const res = await state.session.request(action, fields);
    out.textContent = resultText(res); // worded as the slash commands and the terminal clients do
  } catch (err) {
    out.textContent = `${action} failed: ${err.message}`;
  }
  refreshModeration();
}

// --- wiring ----------------------------------------------------------------------

function wire() {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    state.final = false;
    if (!state.session || state.session.ws.readyState !== WebSocket.OPEN) {
      state.retry = 0;
      try {
        await connectOnly();
      } catch (err) {
        $("login-error").textContent = `cannot reach the server: ${err.message}`;
        return;
      }
    }
    try {
      const result = await state.session.request("login", {
        user: $("login-user").value,
        password: $("login-password").value,
        register: $("login-register").checked,
      });
      $("login-password").value = "";
      await startSession(result);
    } catch (err) {
      $("login-error").textContent = err.message;
    }
  });
  $("logout").addEventListener("click", async () => {
    state.final = true;
    state.loggedIn = false;
    await fetch("/session", { method: "DELETE", credentials: "same-origin" });
    try {
      await state.session.request("logout");
    } catch {
      // the server closes the connection after its reply
    }
    state.convs.clear();
    showMentionsView(false);
    showLogin();
  });
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sendText();
  });
  $("text").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendText();
    }
  });
  $("text").addEventListener("input", noteTyping);
  $("older").addEventListener("click", loadOlder);
  $("open-mentions").addEventListener("click", openMentions);
  $("older-mentions").addEventListener("click", () => loadMentions(true));
  $("join-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const room = $("join-room").value.trim().replace(/^#/, "");
    if (!room) return;
    try {
      const res = await state.session.request("join", { room });
      const c = conv(res.room);
      c.serverLast = res.last_seq;
      $("join-room").value = "";
      await catchUp(c);
      openConv(res.room);
    } catch (err) {
      systemLine(`cannot join: ${err.message}`, state.current);
    }
  });
  $("dm-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const user = $("dm-user").value.trim().replace(/^@/, "").toLowerCase();
    if (!user) return;
    $("dm-user").value = "";
    const key = dmKey(state.me, user);
    conv(key);
    openConv(key);
  });
  $("file").addEventListener("change", () => {
    for (const f of $("file").files) sendFile(f);
    $("file").value = "";
  });
  const zone = $("conversation");
  zone.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    zone.classList.add("dropping");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dropping"));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    zone.classList.remove("dropping");
    for (const f of ev.dataTransfer.files) sendFile(f);
  });
  $("open-mod").addEventListener("click", () => openModeration(""));
  $("mod-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const action = $("mod-action").value;
    const fields = { user: $("mod-user").value.trim() };
    if (action === "block" || action === "mute" || action === "kick") {
      fields.reason = $("mod-reason").value;
    }
    if (action === "block" || action === "mute") {
      try {
        fields.duration = parseDuration($("mod-duration").value);
      } catch (err) {
        $("mod-result").textContent = err.message;
        return;
      }
    }
    moderate(action, fields);
  });
  $("toggle-nav").addEventListener("click", () => togglePanel("nav", "toggle-nav"));
  $("toggle-members").addEventListener("click", () => togglePanel("members", "toggle-members"));
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") closePanels();
    active();
  });
  document.addEventListener("pointerdown", active);
  if ("Notification" in window && Notification.permission === "default") {
    $("notify").hidden = false;
    $("notify").addEventListener("click", async () => {
      await Notification.requestPermission();
      $("notify").hidden = Notification.permission !== "default";
    });
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.convs.has(state.current) && !mentionsShown()) openConv(state.current);
  });
}

async function connectOnly() {
  const session = new Session(wsUrl, onEvent, onClose);
  state.session = session;
  await session.opened;
}

wire();
connect();
