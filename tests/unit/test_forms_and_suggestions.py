"""Reading a submitted form's values (action rows and labels, as Discord sends them) and the blocklist
suggestions `/moderation blocklist remove` shows."""

from __future__ import annotations

from bot.discord_adapter.modal_routes import form_values
from cogs.moderation import SUGGESTIONS, matching_words


def test_form_values_reads_text_inputs_and_selects_in_rows_and_labels() -> None:
    components = [
        {"type": 1, "components": [{"type": 4, "custom_id": "prompt", "value": "a fox"}]},
        {"type": 18, "id": 2, "component": {"type": 3, "custom_id": "duration", "values": ["10"]}},
        {"type": 18, "component": {"type": 4, "custom_id": "note", "value": ""}},
        {"type": 10, "content": "just text"},
    ]
    assert form_values(components) == {"prompt": "a fox", "duration": ["10"], "note": ""}


def test_blocklist_suggestions_put_words_starting_with_the_typed_text_first() -> None:
    words = ("blood", "gore", "ogre", "goblin king")
    assert matching_words(words, " GO") == ["goblin king", "gore"]
    assert matching_words(words, "o") == ["ogre", "blood", "goblin king", "gore"]
    assert matching_words(tuple(f"word{i:03}" for i in range(40)), "word") == [f"word{i:03}" for i in range(25)]
    assert SUGGESTIONS == 25
