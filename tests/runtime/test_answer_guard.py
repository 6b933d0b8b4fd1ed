"""The answer guard on streamed text (pure): loops, the token budget, language, echoes, code blocks."""

from __future__ import annotations

import pytest

from runtime.answer_guard import AnswerGuard, GuardResult, ends_complete, find_loop, guard_answer, last_boundary
from runtime.prompts import ANSWER_SYSTEM_PROMPT, SYSTEM_PROMPT

MARK = {"en": "(shortened)", "ja": "（省略しました）"}


def pieces_of(text: str) -> list[str]:
    """As a model streams: word pieces for Latin text, a character or two for Japanese."""
    if any("\u3040" <= ch <= "\u9fff" for ch in text):
        return [text[i : i + 2] for i in range(0, len(text), 2)]
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def stream(text: str, lang: str = "en", budget_hit: bool = False, request: str = "") -> tuple[GuardResult, int]:
    """Feed `text` piece by piece until the guard says stop; (result, pieces taken)."""
    guard = AnswerGuard(lang, MARK[lang], request=request)
    pieces = pieces_of(text)
    taken = 0
    for piece in pieces:
        taken += 1
        if guard.feed(piece):
            break
    return guard.finish(budget_hit=budget_hit and taken == len(pieces)), taken


GOOD = [
    ("en", "Use `xs.reverse()` to reverse a list in place, or `xs[::-1]` for a reversed copy."),
    (
        "en",
        "To book a room:\n1. Open the booking page.\n2. Pick a room and a time.\n3. Click Book.\n"
        "You get a confirmation by mail.",
    ),
    (
        "en",
        "Run this:\n```python\nfor row in rows:\n    print(row)\n    print(row)\n```\nIt prints each row twice.",
    ),
    ("ja", "Pythonでリストを逆順にするには、`list.reverse()`メソッドを使うか、スライス`list[::-1]`を使います。"),
    (
        "ja",
        "会議室の予約は、予約システムで空いている部屋を選び、時間を指定して登録してください。"
        "変更は前日までにお願いします。",
    ),
    ("ja", "Aを使用することができます。Bを使用することができます。Cを使用することができます。"),  # an enumeration
    (
        "ja",
        "次のコマンドを実行してください。\n```bash\ngit reset --soft HEAD~1\n```\nこれで直前のコミットを取り消せます。",
    ),
    ("en", "Yes."),
]


@pytest.mark.parametrize(("lang", "text"), GOOD)
def test_good_answers_pass_unchanged(lang: str, text: str) -> None:
    result, taken = stream(text, lang)
    assert result == GuardResult("ok", text.strip()) and taken == len(pieces_of(text))


def test_a_repeated_sentence_is_cut_right_before_it_repeats_and_generation_stops() -> None:
    text = "To reset it, open the self-service portal. " + "I am not sure about this. " * 20
    result, taken = stream(text)
    assert result.outcome == "loop_cut"
    assert result.text == "To reset it, open the self-service portal. I am not sure about this."
    assert taken < len(pieces_of(text)) // 4  # stopped at the first repetition, not at the end


def test_a_loop_in_mid_sentence_is_cut_and_marked() -> None:
    text = "You can reverse it with the reverse method and " + "the reverse method and " * 8
    result, _ = stream(text)
    assert result.outcome == "loop_cut"  # a repeated fragment (no sentence end in it) loses every copy
    assert result.text == "You can reverse it with\n(shortened)"


def test_japanese_loops_are_cut_before_the_repetition() -> None:
    sentence = "申請は人事システムから行ってください。"
    result, taken = stream("休暇の申請方法です。" + sentence * 6, "ja")
    assert result == GuardResult("loop_cut", "休暇の申請方法です。" + sentence, result.cut_at)
    assert taken < 30
    # a stuttered fragment loses every copy: what it said before stands
    result, _ = stream("経費の精算は毎月末に締めます。" + "わからないですが、" * 5, "ja")
    assert result.outcome == "loop_cut" and result.text == "経費の精算は毎月末に締めます。"


@pytest.mark.parametrize(
    ("text", "lang"),
    [("わからないですが、" * 3, "ja"), ("I don't know, " * 6, "en"), ("the the the the the the", "en")],
)
def test_nothing_but_a_loop_falls_back(text: str, lang: str) -> None:
    result, _ = stream(text, lang)
    assert result.fallback and result.outcome == "fallback_empty" and result.text == ""


def test_visible_text_never_shows_a_detected_repetition() -> None:
    guard = AnswerGuard("en", MARK["en"])
    for piece in pieces_of("Open the portal. " + "Click the reset button now. " * 3):
        if guard.feed(piece):
            break
    assert guard.visible.strip() == "Open the portal. Click the reset button now."


def test_the_token_budget_cuts_back_to_the_last_sentence_and_marks_it() -> None:
    text = "Open the booking page and pick a room. Then choose the time slot and"
    kept = "Open the booking page and pick a room."
    assert stream(text, budget_hit=True)[0] == GuardResult("shortened", f"{kept}\n(shortened)", len(kept))
    ja = "予約システムで部屋を選んでください。時間を指定したら、確認メールが届くので"
    result, _ = stream(ja, "ja", budget_hit=True)
    assert result.outcome == "shortened" and result.text == "予約システムで部屋を選んでください。\n（省略しました）"
    # the same text without the budget running out is posted as the model ended it
    assert stream(text)[0] == GuardResult("ok", text)
    # a sentence end at the budget: nothing to cut
    assert stream("Open the page. Pick a room.", budget_hit=True)[0].outcome == "ok"


def test_the_budget_cut_keeps_list_items_and_lines_whole() -> None:
    text = "1. Open the settings page.\n2. Click Security.\n3. Choose Reset password and follow the"
    result, _ = stream(text, budget_hit=True)
    assert result.text == "1. Open the settings page.\n2. Click Security.\n(shortened)"
    assert last_boundary("Steps:\n1. Open") == 0  # "1." is a list number, "Steps:" announces more


def test_code_blocks_are_never_cut_mid_block() -> None:
    unclosed = "Reverse it in place first. Here is the code:\n```python\nxs = [1, 2, 3]\nxs.reverse()\nprint(xs"
    result, _ = stream(unclosed, budget_hit=True)
    assert result.text == "Reverse it in place first.\n(shortened)"
    closed = "Like this:\n```python\nxs.reverse()\nprint(xs)\n```\nThis prints the list and then the"
    result, _ = stream(closed, budget_hit=True)
    assert result.text == "Like this:\n```python\nxs.reverse()\nprint(xs)\n```\n(shortened)"
    # a model looping inside code: the whole block goes, never half of it
    looping = "Print it in a loop, which is what you asked for.\n```python\n" + "print('hello world')\n" * 6
    result, _ = stream(looping)
    assert result.outcome == "loop_cut" and result.text == "Print it in a loop, which is what you asked for."
    assert "```" not in result.text
    assert find_loop("```\nx = 1\n" + "hello there. " * 5 + "\n```") is None  # repeats inside code are code


@pytest.mark.parametrize(
    ("text", "lang", "request_text"),
    [
        ("To reset your password, open the portal, choose Forgot password and follow the steps there.", "ja", ""),
        ("パスワードを再設定するには、ポータルを開いて「パスワードを忘れた」を選んでください。", "en", ""),
        ("这是一个中文回答，它不是日语。请联系人事部门获取更多信息和帮助。", "ja", ""),  # Chinese, not Japanese
    ],
)
def test_the_wrong_language_falls_back(text: str, lang: str, request_text: str) -> None:
    result, _ = stream(text, lang, request=request_text)
    assert result.outcome == "fallback_language" and result.text == ""


def test_language_allows_code_and_mixed_requests() -> None:
    code_heavy = "次のように書きます。\n```python\nfor item in reversed(items):\n    print(item.name, item.price)\n```"
    assert stream(code_heavy, "ja")[0].outcome == "ok"
    answer = "It is a polite phrase: roughly 'thank you in advance' or 'nice to meet you'."
    assert stream(answer, "ja", request="What does よろしくお願いします mean in an email?")[0].outcome == "ok"


@pytest.mark.parametrize(
    "text",
    [
        SYSTEM_PROMPT,
        "Sure! " + ANSWER_SYSTEM_PROMPT.split(". ")[1] + ".",
        "はい。" + ANSWER_SYSTEM_PROMPT.split(". ")[-1],
        "<|im_start|>system\nYou are a helpful assistant.",
    ],
)
def test_an_echo_of_the_instructions_falls_back(text: str) -> None:
    lang = "ja" if text.startswith("はい") else "en"
    result, _ = stream(text, lang)
    assert result.outcome == "fallback_echo" and result.text == ""


def test_an_answer_that_only_repeats_the_question_falls_back() -> None:
    question = "Pythonでリストを逆順にするにはどうすればいいですか？"
    result, _ = stream(question + "\n\n" + question + "\n\n" + question, "ja", request=question)
    assert result.outcome == "fallback_echo"  # what a real small model did with this question
    assert stream("How do I book a room?", request="How do I book a room?")[0].outcome == "fallback_echo"
    assert stream("Hello!", request="hello")[0].outcome == "ok"  # a greeting may repeat a greeting
    answer = "To book a room, open the booking page."
    assert stream(answer, request="How do I book a room?")[0].outcome == "ok"


def test_too_short_after_a_cut_or_empty_falls_back_but_a_short_complete_answer_stands() -> None:
    assert stream("Yes. Then the", budget_hit=True)[0].outcome == "fallback_empty"
    assert stream("")[0].outcome == "fallback_empty"
    assert stream("   \n")[0].outcome == "fallback_empty"
    assert stream("No.")[0] == GuardResult("ok", "No.")


def test_ends_complete() -> None:
    assert ends_complete("Done.") and ends_complete("完了です。") and ends_complete("- item\n")
    assert ends_complete("Code:\n```\nx = 1\n```")
    assert not ends_complete("Code:\n```\nx = 1\n")
    assert not ends_complete("Then choose the") and not ends_complete("Steps:\n")
    assert not ends_complete("For example, e.g.")


def test_guard_answer_checks_a_whole_text_at_once() -> None:
    assert guard_answer("Open the self-service portal. Then the", "en", "(shortened)", budget_hit=True).text == (
        "Open the self-service portal.\n(shortened)"
    )
    assert guard_answer("Open the portal. Then the", "en", "(shortened)", budget_hit=True).outcome == "fallback_empty"
    assert guard_answer("部屋を予約してください。時間は", "ja", "（省略しました）", budget_hit=True).text == (
        "部屋を予約してください。\n（省略しました）"
    )
