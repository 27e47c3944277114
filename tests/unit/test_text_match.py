"""The prompt blocklist's matcher: the evasions it must see through, and the words it must leave alone."""

from __future__ import annotations

import pytest

from bot.core import text_match
from bot.core.moderation import find_blocked_word, normalize_word

BLOCKLIST = ("gore", "cat", "giant squid", "kill", "hit")

EVASIONS = {
    "zero-width space inside": "so much g\u200bore here",
    "soft hyphen": "so much go\u00adre here",
    "zero-width joiner": "so much gor\u200de here",
    "zero-width non-joiner": "so much g\u200core here",
    "word joiner": "so much g\u2060o\u2060r\u2060e here",
    "byte order mark": "so much \ufeffgore\ufeff here",
    "bidi marks": "so much g\u200eo\u200fre\u202e here",
    "Hangul filler": "so much go\u3164re here",
    "fullwidth": "so much \uff47\uff4f\uff52\uff45 here",
    "mathematical bold": "so much \U0001d420\U0001d428\U0001d42b\U0001d41e here",
    "Cyrillic o (U+043E)": "so much g\u043ere here",
    "Cyrillic o and e": "so much g\u043er\u0435 here",
    "Greek omicron (U+03BF)": "so much g\u03bfre here",
    "Greek capital look-alikes": "\u0397\u0399\u03a4 it",  # Eta, Iota, Tau: "HIT"
    "Greek lunate sigma as c": "a \u03f2at",
    "Cyrillic capital look-alikes": "\u041a\u0406LL it",  # Ka, Byelorussian-Ukrainian I: "KILL"
    "Armenian g": "so much \u0581ore here",
    "precomposed accent": "so much g\u00f4re here",
    "combining accent": "so much g\u0301ore here",
    "combining marks piled up": "so much g\u0300\u0301\u0302o\u0303r\u0304e\u0305 here",
    "mixed case": "so much GoRe here",
    "phrase with odd spaces": "a giant\u3000\u00a0 squid",
    "phrase with an invisible break": "a giant \u200bsquid",
    "punctuation that folds into a letter": "ki||",
    "a separator that folds into a letter": "gore| forever",
}


@pytest.mark.parametrize("prompt", EVASIONS.values(), ids=EVASIONS.keys())
def test_evasions_are_caught(prompt: str) -> None:
    assert find_blocked_word(prompt, BLOCKLIST) is not None


CLEAN = {
    "longer word": "gorgeous sunset",
    "word with a suffix": "a gored matador",
    "word with a prefix": "the algore rhythm",
    "cat inside category": "a category of things",
    "cat inside concatenate": "concatenate strings",
    "phrase split by other words": "a giant red squid",
    "phrase run together": "a giantsquid",
    "skill contains kill": "great skill",
    "whitespace is visible": "g ore",
    "an accent makes no new word": "a caté",
    "Cyrillic word stays whole": "\u043a\u043e\u0442\u0435\u043b",  # "kotel": no "cat" in it
}


@pytest.mark.parametrize("prompt", CLEAN.values(), ids=CLEAN.keys())
def test_innocent_prompts_pass(prompt: str) -> None:
    assert find_blocked_word(prompt, BLOCKLIST) is None


def test_whole_words_still_match_next_to_punctuation() -> None:
    assert find_blocked_word("A Cat!", BLOCKLIST) == "cat"
    assert find_blocked_word("(cat)", BLOCKLIST) == "cat"
    assert find_blocked_word("cat's toy", BLOCKLIST) == "cat"
    assert find_blocked_word("a GIANT\nsquid", BLOCKLIST) == "giant squid"


def test_entries_stored_in_any_form_match_alike() -> None:
    """Entries stored before this normalisation (or typed with look-alikes) compare through the same folding."""
    assert find_blocked_word("so much gore", ["G\u043eRE"]) == "G\u043eRE"
    assert find_blocked_word("so much g\u043ere", ["\uff47ore"]) == "\uff47ore"
    assert find_blocked_word("\u041d\u0415\u0422", ["\u043d\u0435\u0442"]) == "\u043d\u0435\u0442"  # Cyrillic, any case
    assert find_blocked_word("so much gore", ["\u200b"]) is None  # an entry of nothing matches nothing


def test_the_stored_form_is_readable() -> None:
    assert normalize_word("  Giant\u200b   SQUID ") == "giant squid"
    assert normalize_word("\uff27\uff4f\uff52\uff45") == "gore"
    assert normalize_word("Caf\u00e9") == "caf\u00e9"  # accents and scripts stay for moderators to read
    assert normalize_word("\u041a\u043e\u0442") == "\u043a\u043e\u0442"
    assert text_match.match_key("Caf\u00e9") == text_match.match_key("cafe")


def test_a_long_prompt_against_a_full_list_is_checked_whole() -> None:
    words = (*(f"word{n}x" for n in range(499)), "gore")
    prompt = ("a quiet meadow at dawn " * 110)[:2480] + " g\u043ere"
    assert len(prompt) <= 2500
    assert find_blocked_word(prompt, words) == "gore"
    assert find_blocked_word(prompt.replace("g\u043ere", "gorgeous"), words) is None
