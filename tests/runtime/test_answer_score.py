"""The answer scorer on hand-written answers: each failure mode fails exactly its own criterion."""

from __future__ import annotations

from runtime.answer_score import (
    answer_language,
    complete,
    echoes,
    loops,
    missing_terms,
    score_answer,
    summarize,
    summary_table,
)
from runtime.prompts import ANSWER_SYSTEM_PROMPT, SYSTEM_PROMPT

GIT_TERMS = ["git checkout -b|git switch -c"]

GOOD_EN = (
    "Run `git switch -c feature/login` to create the branch and switch to it in one step. "
    "On older git versions use `git checkout -b feature/login` instead."
)
GOOD_JA = (
    "`git switch -c feature/login` で新しいブランチを作成して、そのまま切り替えられます。"
    "古いバージョンの git では `git checkout -b feature/login` を使ってください。"
)


def test_good_answers_are_usable_in_both_languages() -> None:
    en = score_answer(GOOD_EN, "en", GIT_TERMS)
    ja = score_answer(GOOD_JA, "ja", GIT_TERMS)
    assert en.usable and ja.usable, (en, ja)
    assert en.answer_lang == "en" and ja.answer_lang == "ja"


def test_a_good_answer_ending_in_a_code_block_is_complete() -> None:
    text = "Use a list comprehension:\n\n```python\nevens = [x for x in xs if x % 2 == 0]\n```"
    s = score_answer(text, "en", ["% 2|%2"])
    assert s.usable, s


def test_a_looping_answer_fails_only_no_loop() -> None:
    text = "Use git checkout -b to create the branch. " * 4
    s = score_answer(text.strip(), "en", GIT_TERMS)
    assert not s.no_loop and not s.usable
    assert s.language and s.no_echo and s.complete and s.key_terms


def test_japanese_loops_and_repeated_lines_are_caught() -> None:
    assert loops("新しいブランチを作成して切り替えます。" * 3)
    assert loops("\n".join(["1. 設定を開いてネットワークを確認"] * 3))
    assert loops("はい" + "！" * 30)
    # two periods back to back: all a 128-token answer has room for when each period is long
    cycle = ["エラーチェックの修正", "データベースの削除", "エラーチェックの追加", "データベースの更新"]
    assert loops("議事録の項目：\n" + "\n".join(f"{i}. {x}" for i, x in enumerate(cycle * 3, 1)))
    twice = "修正したいのは、内容を修正することです。"
    assert loops("コミットを直します。" + twice * 2)
    assert loops("The setting is in the admin panel under users. The setting is in the admin panel under users.")


def test_ordinary_repetition_is_not_a_loop() -> None:
    ja = "- 日付を確認してください。\n- 金額を確認してください。\n- 領収書を確認してください。"
    en = "Check the cable. Check the router. Check the password. Then restart the laptop."
    restated = (  # the question's phrase in the prose and in a code comment: not a loop
        "To get the current date and time, use datetime:\n```python\n# get the current date and time\n"
        "now = datetime.now()\n```\nThis is how to get the current date and time in Python."
    )
    same_words_other_code = "`try` ブロックの中のコードを実行します。`except` ブロックの中のコードを実行します。"
    assert not loops(ja) and not loops(en) and not loops(restated) and not loops(same_words_other_code)
    assert loops("```python\nprint('hello world')\nprint('hello world')\nprint('hello world')\n```")


def test_wrong_language_fails_only_language() -> None:
    s = score_answer(GOOD_EN, "ja", GIT_TERMS)  # a Japanese question answered in English
    assert not s.language and s.answer_lang == "en"
    assert s.no_echo and s.no_loop and s.complete and s.key_terms and not s.usable
    assert not score_answer(GOOD_JA, "en", GIT_TERMS).language


def test_chinese_is_not_japanese_even_though_lang_detection_calls_it_ja() -> None:
    zh = "使用 `git checkout -b new-branch` 命令可以创建并切换到新分支。"
    assert answer_language(zh) == "zh" and not score_answer(zh, "ja", GIT_TERMS).language
    drift = "新しいブランチを作成します。以下步骤可以帮助你创建并切换到新的分支。"
    assert answer_language(drift) == "ja" and not score_answer(drift, "ja", []).language


def test_an_english_answer_that_repeats_the_japanese_question_first_is_english() -> None:
    text = (
        "そのブランチに切り替えるコマンドを教えてください。\n\nThis is a Japanese phrase that is often used "
        "to express the idea of making things right, a way of saying that something is just."
    )
    assert answer_language(text) == "en" and not score_answer(text, "ja", []).language


def test_code_only_is_in_no_language_and_so_not_in_a_wrong_one() -> None:
    assert answer_language("```bash\ngit checkout -b x\n```") == "none"
    assert score_answer("```bash\ngit checkout -b x\n```", "ja", GIT_TERMS).usable
    assert score_answer("`git switch -c x`", "en", GIT_TERMS).usable


def test_a_cut_off_answer_fails_only_complete() -> None:
    s = score_answer("Run `git checkout -b feature` and then push the branch with", "en", GIT_TERMS)
    assert not s.complete and not s.usable
    assert s.language and s.no_echo and s.no_loop and s.key_terms
    assert not complete("手順は次のとおりです。\n1. `git checkout -b feature` を実行し、")
    assert not complete("Here is the code:\n```python\nprint('unclosed')")  # an unclosed code fence
    assert complete("**Done.**") and complete("「了解しました」")


def test_echo_of_the_system_prompt_fails_only_no_echo() -> None:
    text = f"{SYSTEM_PROMPT} Use `git checkout -b feature` to create it."
    s = score_answer(text, "en", GIT_TERMS)
    assert not s.no_echo and not s.usable
    assert s.language and s.no_loop and s.complete and s.key_terms
    ja_prompt = ("日本語の質問には日本語で簡潔に答えてください。",)
    assert echoes("日本語の質問には日本語で簡潔に答えてください。ブランチは git switch -c で作ります。", ja_prompt)
    assert echoes("Sure!<|im_end|>")
    assert not echoes(GOOD_EN) and not echoes(GOOD_JA)
    assert "same language" in ANSWER_SYSTEM_PROMPT  # the language instruction the answer model reads


def test_key_terms_use_alternatives_and_normalise_width_and_chords() -> None:
    assert missing_terms("Press Windows + Shift + S.", ["snip|win+shift+s|windows+shift+s"]) == ()
    assert missing_terms("ＧＩＴ ＳＴＡＳＨ を使います。", ["git stash"]) == ()
    assert missing_terms("Use git reset --hard.", ["--soft|--mixed", "git reset"]) == ("--soft|--mixed",)
    s = score_answer("Use git merge to combine the branches.", "en", GIT_TERMS)
    assert not s.key_terms and s.missing == tuple(GIT_TERMS)


def test_empty_answer_fails_everything() -> None:
    s = score_answer("   ", "en", GIT_TERMS)
    assert not any(s.to_dict()[c] for c in ("language", "no_echo", "no_loop", "complete", "key_terms"))


def test_summary_per_language() -> None:
    results = [
        ("en", score_answer(GOOD_EN, "en", GIT_TERMS)),
        ("en", score_answer("Use git merge", "en", GIT_TERMS)),
        ("ja", score_answer(GOOD_JA, "ja", GIT_TERMS)),
    ]
    summary = summarize(results)
    assert summary["en"]["usable"] == 0.5 and summary["ja"]["usable"] == 1.0
    assert summary["all"]["n"] == 3 and summary["en"]["complete"] == 0.5
    table = summary_table(summary)
    assert table.splitlines()[0] == "| metric | all | en | ja |" and "| **usable** | 0.67 | 0.50 | 1.00 |" in table
