"""Whole-word matching that look-alike letters and invisible characters cannot get past (the prompt blocklist).

Both sides of a comparison are folded the same way, one character at a time:
  1. case folding (`str.casefold`), then Unicode TR39 confusables map look-alikes from other scripts onto Latin
     (Cyrillic U+043E and Greek U+03BF, both an "o", become "o");
  2. compatibility decomposition (NFKD, which NFKC's matching rests on) and case folding again: fullwidth U+FF47
     and bold U+1D420 become "g", and accents come apart from their letters;
  3. what renders as nothing is dropped: format characters (Cf: zero-width space and joiners, word joiner,
     soft hyphen, bidi marks), other control characters, combining marks (Mn, Me: "gôre" and "g\u0301ore" are
     "gore") and the Hangul fillers (letters that render blank);
  4. the confusables and steps 2 and 3 once more, for what decomposition revealed (a styled Greek letter);
  5. any run of whitespace is one space.
Capitals of other scripts often look Latin while their small letters do not (Greek U+0397 is an "H", its
small U+03B7 is not), so a text that is not already lower case is also folded with step 1's case folding left
out, and a match in either folding counts.

Matches are whole words only: a match must not continue a word on either side. Word edges are judged both on
the characters as typed and on the folded ones, so neither "gore|" ("|" folds to "l") nor "ki||" gets past.
Visible separators (spaces, punctuation) still split words; invisible ones (step 3) do not.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# disarm ships Unicode's TR39 confusables table (confusables.txt) with a mapping function towards Latin, which
# is what a skeleton needs; confusable-homoglyphs only detects, and its table has lost the mapping's direction.
from disarm import normalize_confusables

# Letters (category Lo) that render as blank space; Unicode lists them as default-ignorable.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
INVISIBLE = frozenset({"Cf", "Cc", "Cs"})
MARKS = frozenset({"Mn", "Me"})


def _invisible(char: str) -> bool:
    return unicodedata.category(char) in INVISIBLE or char in BLANK_LETTERS


def _shown(char: str) -> bool:
    """Neither invisible nor a combining mark (which the comparison ignores)."""
    return not _invisible(char) and unicodedata.category(char) not in MARKS


def _is_word(char: str) -> bool:
    """Part of a word: letters, digits, spacing marks (Indic vowel signs) and connectors such as "_"."""
    category = unicodedata.category(char)
    return category[0] in "LN" or category in ("Mc", "Pc")


def _plain(text: str) -> str:
    """Steps 2 and 3 for a few characters: decomposed, case folded, nothing invisible and no marks left."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(" " if char.isspace() else char for char in folded if char.isspace() or _shown(char))


@lru_cache(maxsize=16384)
def _fold_char(char: str, casefold_first: bool) -> tuple[str, bool]:
    """What one character becomes, and whether it was part of a word as typed."""
    if char.isspace():
        return " ", False
    # TR39 maps the canonical decomposition (NFD): compatibility forms first would turn some look-alikes into
    # other letters (Greek lunate sigma U+03F2, a "c", would become a sigma).
    start = unicodedata.normalize("NFD", char)
    if casefold_first:
        start = start.casefold()
    once = _plain(normalize_confusables(start))
    return _plain(normalize_confusables(once)), _is_word(char)


@dataclass(frozen=True, slots=True)
class Folded:
    """A folded text, with for each of its characters whether it is part of a word as typed (`word_as_typed`)
    and once folded (`word_folded`)."""

    text: str
    word_as_typed: bytes
    word_folded: bytes

    def has_whole(self, key: str) -> bool:
        """Whether `key` (already folded) occurs here as whole words."""
        if not key:
            return False
        start = self.text.find(key)
        while start != -1:
            end = start + len(key)
            if _on_word_edges(self.word_as_typed, start, end) or _on_word_edges(self.word_folded, start, end):
                return True
            start = self.text.find(key, start + 1)
        return False


def _on_word_edges(words: bytes, start: int, end: int) -> bool:
    return (start == 0 or not words[start - 1]) and (end == len(words) or not words[end])


def fold(text: str, *, casefold_first: bool = True) -> Folded:
    chars: list[str] = []
    as_typed = bytearray()
    folded = bytearray()
    for original in text:
        piece, was_word = _fold_char(original, casefold_first)
        for char in piece:
            if char == " " and (not chars or chars[-1] == " "):
                continue  # runs of whitespace are one space; none at the start
            chars.append(char)
            as_typed.append(was_word and char != " ")
            folded.append(_is_word(char))
    if chars and chars[-1] == " ":
        chars.pop()
        as_typed.pop()
        folded.pop()
    return Folded("".join(chars), bytes(as_typed), bytes(folded))


def match_key(text: str) -> str:
    """What an entry is compared as: two entries with the same key block the same prompts."""
    return fold(text).text


def tidy(text: str) -> str:
    """The readable form an entry is stored and shown in: compatibility forms and case folded, invisible
    characters removed, whitespace runs as one space. Accents and scripts stay, so moderators recognise it."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join("".join(char for char in folded if char.isspace() or not _invisible(char)).split())


def first_whole_match(text: str, entries: tuple[tuple[str, str], ...]) -> str | None:
    """The first entry (of `(entry, match_key(entry))` pairs) whose key occurs in `text` as whole words."""
    if not entries:
        return None
    views = [fold(text)]
    if text != text.casefold():
        views.append(fold(text, casefold_first=False))
    for entry, key in entries:
        if any(view.has_whole(key) for view in views):
            return entry
    return None


@lru_cache(maxsize=256)
def keyed(entries: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Entries with their keys, computed once per distinct list (a server's blocklist changes rarely)."""
    return tuple((entry, key) for entry in entries if (key := match_key(entry)))
