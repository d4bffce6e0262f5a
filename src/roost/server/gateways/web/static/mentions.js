// What counts as a mention: the rule of roost.protocol.mentions (docs/protocol.md 7.7),
// so what the page highlights is what the server counts. Python's \w is Unicode-aware,
// hence the \p{L}\p{N} class in place of JavaScript's ASCII-only \w.

const WORD = "\\p{L}\\p{N}_"; // the characters of Python's \w, inside a [...] class
const MENTION = new RegExp(`(?<![${WORD}@])@([a-z0-9_][a-z0-9_.-]{0,31})`, "giu");

/** User names mentioned as ``@name`` in ``text`` (lower-case, trailing ``.``/``-`` dropped). */
export function mentionsOf(text) {
  const names = new Set();
  if (!text || !text.includes("@")) return names;
  for (const m of text.matchAll(MENTION)) names.add(m[1].toLowerCase().replace(/[.-]+$/, ""));
  return names;
}

// (no "-": an escaped "-" is a syntax error in a "u" expression outside a class)
function escaped(s) {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** True if ``text`` mentions ``me`` as ``@me`` or names ``me`` as a whole word. */
export function mentionsMe(text, me) {
  if (!me || !text) return false;
  if (mentionsOf(text).has(me.toLowerCase())) return true;
  const word = new RegExp(`(?<![${WORD}@.-])${escaped(me)}(?![${WORD}-])`, "iu");
  return word.test(text);
}
