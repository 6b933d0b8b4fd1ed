"""The grounding check: a grounded answer's numbers and names must be in its passages, else the passages' own
sentences are posted instead (kb/grounding.py)."""

from __future__ import annotations

from kb.grounding import check, extractive, facts, focus, grounded_answer, sentences, supported
from kb.search import Passage

HOTELS = (
    "Book flights, trains and hotels in **TripDesk** at least 7 days before the trip.\n\n"
    "Hotels\n"
    "The hotel limit is ¥15,000 per night in Tokyo and Osaka and ¥12,000 per night elsewhere in\n"
    "Japan. Abroad the limit is USD 220 per night (USD 300 in New York, London and Zurich)."
)
HOUSING = "賃貸住宅に住む社員には、月2万円の住宅手当を支給します。持ち家の場合は支給されません。"


def _p(number: int, text: str, heading: str = "Booking · Hotels", coverage: float = 0.8) -> Passage:
    return Passage(number, "Business travel", "kb/sample_handbook/travel.md", heading, text, 1.0, coverage)


def test_numbers_are_normalised_before_they_are_compared() -> None:
    got = facts("The limit is １５，０００円 [1], or ¥15,000; 2万円; 1万5千円; USD 220; 20%; 9:30")
    assert {("jpy", "15000"), ("jpy", "20000"), ("usd", "220")} <= got.amounts
    assert {"15000", "20000", "220", "20", "9", "30"} <= got.numbers and "1" not in got.numbers  # [1] is a citation
    assert "2" in facts("月2万円", source=True).numbers  # a page's 2万 also backs an answer's 2


def test_an_answer_with_the_pages_figures_passes() -> None:
    q = "What is the hotel limit per night in Osaka?"
    for answer in (
        "The hotel limit in Osaka is ¥15,000 per night [1].",
        "It is 15,000 yen a night.",
        "Book it in TripDesk; the limit is 15000円.",
    ):
        assert check(answer, [_p(1, HOTELS)], q).ok, answer
    ja = _p(1, HOUSING, "住宅手当")
    assert check("住宅手当は月20,000円です。", [ja], "住宅手当はいくらですか").ok
    assert check("住宅手当は1か月あたり2万円です。", [ja], "住宅手当はいくらですか").ok


def test_a_figure_or_a_name_not_in_the_passages_fails() -> None:
    q = "What is the hotel limit per night in Osaka?"
    wrong = check("The hotel limit in Osaka is ¥18,000 per night.", [_p(1, HOTELS)], q)
    assert not wrong.ok and wrong.reason == "unsupported" and wrong.unsupported == ("jpy 18000",)
    assert check("It is $15,000 a night.", [_p(1, HOTELS)], q).unsupported == ("usd 15000",)  # not the yen figure
    assert check("Book it in TravelNow.", [_p(1, HOTELS)], q).unsupported == ("travelnow",)
    assert check("健康診断は2023年10月10日です。", [_p(1, HOUSING)], "健康診断はいつ").reason == "unsupported"
    # numbers the asker wrote are not the answer's inventions
    assert check("If you are sick for 4 days, ask about TripDesk.", [_p(1, HOTELS)], "sick for 4 days?").ok


def test_an_answer_that_says_nothing_of_the_passages_fails() -> None:
    q = "What is the hotel limit per night in Osaka?"
    assert check("The hotel limit per night in Osaka.", [_p(1, HOTELS)], q).reason == "no_overlap"
    assert check("Ask your manager.", [_p(1, HOTELS)], q).reason == "no_overlap"
    assert check("", [_p(1, HOTELS)], q).reason == "empty"
    assert supported("Ask your", [_p(1, HOTELS)], q)  # while streaming only the facts are checked


def test_sentences_join_wrapped_lines_and_drop_headings_and_markup() -> None:
    got = sentences(_p(1, HOTELS))
    assert got[0] == "Book flights, trains and hotels in TripDesk at least 7 days before the trip."
    assert "Hotels" not in got
    assert got[1] == "The hotel limit is ¥15,000 per night in Tokyo and Osaka and ¥12,000 per night elsewhere in Japan."
    assert sentences(_p(1, HOUSING, "住宅手当"))[1] == "持ち家の場合は支給されません。"


def test_the_extractive_answer_quotes_the_best_sentences_with_their_citation() -> None:
    text = extractive("What is the hotel limit per night in Osaka?", [_p(1, HOTELS)], "en")
    assert text.splitlines() == [
        "Here is what the team's documents say:",
        "“The hotel limit is ¥15,000 per night in Tokyo and Osaka and ¥12,000 per night elsewhere in Japan.” [1]",
    ]
    ja = extractive("住宅手当はいくらですか", [_p(2, HOUSING, "住宅手当")], "ja")
    assert ja.splitlines()[:2] == ["社内文書には次のように書かれています:", f"「{HOUSING.split('。')[0]}。」[2]"]


def test_a_wrong_model_answer_is_replaced_whole_never_mixed() -> None:
    q = "What is the hotel limit per night in Osaka?"
    good = "The limit in Osaka is ¥15,000 per night."
    assert grounded_answer(good, [_p(1, HOTELS)], q, "en")[:2] == (good, "model")
    text, outcome, result = grounded_answer("It is ¥18,000. Book in TripDesk.", [_p(1, HOTELS)], q, "en")
    assert outcome == "extractive_fact" and result.unsupported == ("jpy 18000",)
    assert "18,000" not in text and "¥15,000" in text and text.startswith("Here is what")
    assert grounded_answer("", [_p(1, HOTELS)], q, "ja")[1] == "extractive_empty"


def test_facts_come_from_the_passages_that_answer_the_question() -> None:
    weak = _p(2, "Day trips over 100 km get ¥1,000.", "Daily allowance", coverage=0.2)
    assert focus([_p(1, HOUSING, "住宅手当", coverage=0.9), weak]) == [_p(1, HOUSING, "住宅手当", coverage=0.9)]
    text, outcome, _ = grounded_answer("The allowance is ¥1,000.", [_p(1, HOUSING, coverage=0.9), weak], "手当", "en")
    assert outcome == "extractive_fact" and "¥1,000" not in text
