"""The phrases of a person at risk: first-person statements, not topics or other people's quoted words."""

from __future__ import annotations

import pytest

from runtime.crisis import SUPPORT_TERMS, support_hit


@pytest.mark.parametrize(
    "text",
    [
        "もう生きているのがつらいです",
        "正直、死にたい",
        "消えたいって毎日思う",
        "毎日「消えたい」と思ってしまう",  # one's own thought, in brackets as Japanese writes it
        "I don’t want to live anymore",  # a curly apostrophe
        "I've been feeling SUICIDAL lately",
        "sometimes I think everyone would be better off dead without me... I mean me",
    ],
)
def test_a_statement_about_oneself_is_found(text: str) -> None:
    assert support_hit([text]) is not None


@pytest.mark.parametrize(
    "text",
    [
        "This bug is killing me",
        "死ぬほど忙しい一週間だった",
        "自殺予防研修の資料を作って",
        "Kill the hung process with kill -9",
        "同僚が「もう消えたい」と言ったとき、どう声をかければいいですか？",
        'What should I say if a colleague says "I want to die"?',
        "",
    ],
)
def test_a_topic_or_someone_elses_quoted_words_are_not(text: str) -> None:
    assert support_hit([text]) is None


def test_any_of_the_forms_and_extra_terms() -> None:
    assert support_hit(["lunch?", "I want to die"]) == "want to die"
    assert support_hit(["もう限界"], SUPPORT_TERMS + ("もう限界",)) == "もう限界"
    assert support_hit(["x"], ()) is None
