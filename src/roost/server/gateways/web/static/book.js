// Edits, deletions, removals and reactions (docs/protocol.md 5.3) folded into the
// message they are about, as the other clients do it (roost.client.edits). Events
// may come before their message (scroll-back loads older pages later): they wait.

// A handful of common shortcodes: the same table as roost.client.edits.SHORTCODES,
// so a shortcode gives the same emoji in every client.
const SHORTCODES = {
  ":+1:": "\u{1f44d}",
  ":thumbsup:": "\u{1f44d}",
  ":-1:": "\u{1f44e}",
  ":thumbsdown:": "\u{1f44e}",
  ":heart:": "\u2764\ufe0f",
  ":smile:": "\u{1f604}",
  ":joy:": "\u{1f602}",
  ":laughing:": "\u{1f606}",
  ":tada:": "\u{1f389}",
  ":eyes:": "\u{1f440}",
  ":fire:": "\u{1f525}",
  ":rocket:": "\u{1f680}",
  ":thinking:": "\u{1f914}",
  ":pray:": "\u{1f64f}",
  ":100:": "\u{1f4af}",
  ":check:": "\u2705",
  ":white_check_mark:": "\u2705",
  ":x:": "\u274c",
  ":wave:": "\u{1f44b}",
};

export function emojiOf(text) {
  const t = text.trim();
  return SHORTCODES[t.toLowerCase()] || t;
}

export function isText(m) {
  return !m.kind || m.kind === "text";
}

/** Take message ``m`` of conversation ``c``; the text message it changed, if any. */
export function take(c, m) {
  if (isText(m)) {
    const waiting = c.pending.get(m.seq);
    if (waiting) {
      c.pending.delete(m.seq);
      waiting.sort((a, b) => a.seq - b.seq).forEach((e) => apply(c, m, e));
    }
    return null;
  }
  const target = c.msgs.get(m.ref);
  if (!target || !isText(target)) {
    if (!c.pending.has(m.ref)) c.pending.set(m.ref, []);
    c.pending.get(m.ref).push(m);
    return null;
  }
  apply(c, target, m);
  return target;
}

function apply(c, target, e) {
  if (c.applied.has(e.seq)) return; // history and live delivery may overlap
  c.applied.add(e.seq);
  if (e.kind === "edit") {
    target.shown = e.text;
    target.edited = true;
  } else if (e.kind === "delete") {
    target.removed = "author";
  } else if (e.kind === "remove") {
    target.removed = "moderator";
    target.reason = e.text;
  } else if (e.kind === "react" || e.kind === "unreact") {
    if (!target.reactions) target.reactions = new Map(); // emoji -> Set of users
    const users = target.reactions.get(e.text) || new Set();
    if (e.kind === "react") users.add(e.sender);
    else users.delete(e.sender);
    if (users.size) target.reactions.set(e.text, users);
    else target.reactions.delete(e.text);
  }
}

/** The text as shown: the latest edit, or what says it was deleted. */
export function label(m) {
  if (m.removed === "moderator") return `(removed by a moderator${m.reason ? ": " + m.reason : ""})`;
  if (m.removed) return "(deleted)";
  return m.shown ?? m.text;
}

/** "↪ ann: the first words…" for a reply to ``seq``. */
export function quote(c, seq) {
  const m = c.msgs.get(seq);
  if (!m) return `\u21aa #${seq}`;
  let text = label(m).split(/\s+/).join(" ");
  if (text.length > 40) text = text.slice(0, 39) + "\u2026";
  return `\u21aa ${m.sender}: ${text}`;
}

/** The seq a user means: a number, or last / -1 (the latest), -2 ... (``sender``'s only). */
export function resolve(c, token, sender = null) {
  const t = token.replace(/^#/, "");
  const back = t === "last" ? 1 : t.startsWith("-") ? -Number(t) : 0;
  if (!back) {
    const seq = Number(t);
    if (!Number.isInteger(seq) || seq <= 0) throw new Error(`${token} names no message: give its number, or last, -1, -2...`);
    return seq;
  }
  const mine = [...c.msgs.values()]
    .filter((m) => isText(m) && !m.removed && (sender === null || m.sender === sender))
    .sort((a, b) => a.seq - b.seq);
  if (!Number.isInteger(back) || back > mine.length) throw new Error(`${token} names no message here`);
  return mine[mine.length - back].seq;
}
