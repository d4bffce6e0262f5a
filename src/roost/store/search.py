"""Search queries: the one syntax both stores read, turned into each engine's own.

A query is words and "quoted phrases"; every one must occur in a message
(case does not matter, accents do). A word ending in ``*`` matches as a
prefix (``deploy*`` finds "deployed"). Only letters and digits count: other
characters separate words, as the engines' tokenizers do, so ``foo-bar`` is
the phrase "foo bar". The query is parsed here and handed to each engine as
quoted terms, so nothing a user types reaches FTS5's or PostgreSQL's own
query syntax (where a stray quote or operator would be a syntax error).
"""

from __future__ import annotations

import re

from roost.protocol.errors import ErrorCode, RoostError
from roost.store.base import SearchTerm

MAX_QUERY = 256  # characters of a query
MAX_TERMS = 16  # words and phrases in one query
_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r'"([^"]*)("?)|(\S+)')


def parse_query(text: str) -> list[SearchTerm]:
    """The terms of a query; RoostError(BAD_QUERY) if it cannot be searched."""
    if len(text) > MAX_QUERY:
        raise RoostError(
            ErrorCode.BAD_QUERY, f"a search is at most {MAX_QUERY} characters, not {len(text)}"
        )
    terms: list[SearchTerm] = []
    for m in _TOKEN.finditer(text):
        phrase, closed, bare = m.group(1), m.group(2), m.group(3)
        if bare is None and not closed:
            raise RoostError(
                ErrorCode.BAD_QUERY, 'unclosed quote in the search: end the phrase with "'
            )
        source = phrase if bare is None else bare
        words = [w.lower() for w in _WORD.findall(source)]
        if not words:
            continue  # punctuation only: nothing an index holds
        prefix = (
            bare is not None
            and len(bare) > 1
            and bare[-1] == "*"
            and _WORD.match(bare[-2]) is not None
        )
        terms.append(SearchTerm(words, prefix))
    if not terms:
        raise RoostError(
            ErrorCode.BAD_QUERY, "the search has no word to look for (letters or digits)"
        )
    if len(terms) > MAX_TERMS:
        raise RoostError(
            ErrorCode.BAD_QUERY,
            f"a search has at most {MAX_TERMS} words and phrases, not {len(terms)}",
        )
    return terms


def fts5_match(terms: list[SearchTerm]) -> str:
    """An FTS5 MATCH expression: each term a quoted phrase (words hold no quote)."""
    return " ".join('"' + " ".join(t.words) + '"' + ("*" if t.prefix else "") for t in terms)


def tsquery(terms: list[SearchTerm]) -> str:
    """A PostgreSQL to_tsquery text: quoted lexemes, <-> within a phrase, & between terms."""
    parts = []
    for t in terms:
        lexemes = [f"'{w}'" for w in t.words]
        if t.prefix:
            lexemes[-1] += ":*"
        parts.append(" <-> ".join(lexemes))
    return " & ".join(f"({p})" for p in parts)
