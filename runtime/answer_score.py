"""Automatic scoring of an answer to a work question (`so8t eval-answers`): pure text checks, no model.

An answer is usable only when every criterion passes, so a fluent answer in the wrong language, or a
right one cut off at the token limit, does not count. The checks are deliberately plain (substrings,
n-gram counts, the last character) so that a person reading the report can see why each one failed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from runtime.lang import detect_lang
from runtime.prompts import ANSWER_SYSTEM_PROMPT, SYSTEM_PROMPT

CRITERIA = ("language", "no_echo", "no_loop", "complete", "key_terms")
CHAT_MARKERS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<start_of_turn>", "<end_of_turn>", "<eos>")
ECHO_NGRAM = 6  # words: a run this long copied from the system prompt is an echo, not a coincidence
ECHO_JA_CHARS = 12
LOOP_REPEATS = 3  # the same n-gram this many times in one short answer is a loop
LOOP_NGRAM_WORDS = 6
LOOP_NGRAM_CJK = 16  # CJK characters count one by one; katakana words are long (リモートリポジトリ: 9)
LONGEST_CHAR_RUN = 20
LOOP_TANDEM_CHARS = 16
JA_MIN_SHARE = 0.25  # of prose letters; Japanese packs a word into 1-3 characters, English into ~5
JA_SENTENCE_WITHOUT_KANA = 10  # ideographs in one sentence with no kana: Chinese, not Japanese

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_KANA = re.compile(r"[\u3040-\u30ff]")
_JA_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_JA_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]+")
_LETTER = re.compile(r"[A-Za-z\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_UNIT = re.compile(r"[a-z0-9_]+|[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"[。！？!?\n]")
_LIST_NUMBER = re.compile(r"(?m)^[ \t]*\d+[.)][ \t]*")
_TERMINAL = set(".!?。！？…)）」』\"”'`")


@dataclass(frozen=True)
class AnswerScore:
    """One answer's result per criterion; `missing` names the key terms it lacks, `answer_lang` what it is in."""

    language: bool
    no_echo: bool
    no_loop: bool
    complete: bool
    key_terms: bool
    answer_lang: str
    missing: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return all(getattr(self, c) for c in CRITERIA)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["missing"] = list(self.missing)
        d["usable"] = self.usable
        return d


def prose(text: str) -> str:
    """The text without code (fenced blocks, an unclosed one included, and inline code): code has no language."""
    return _INLINE_CODE.sub(" ", _FENCE.sub(" ", text))


def answer_language(text: str) -> str:
    """'ja', 'en', 'zh' (ideographs with no kana: Japanese prose always has kana) or 'none' (code only).

    runtime.lang calls any text with kana Japanese; an English answer that merely opens by repeating a
    Japanese question is English here: Japanese needs JA_MIN_SHARE of the prose's letters."""
    p = prose(text)
    if not _LETTER.search(p):
        return "none"
    lang = detect_lang(p)
    if lang == "ja" and not _KANA.search(p):
        return "zh"
    if lang == "ja":
        ja = len(_JA_CHAR.findall(p))
        if ja < JA_MIN_SHARE * (ja + len(_LATIN.findall(p))):
            return "en"
    return lang


def in_language(text: str, expected: str) -> bool:
    """The answer is in `expected` (ja/en) or is code only (a bare command is in no language); a Japanese
    answer that drifts into a Chinese sentence fails."""
    lang = answer_language(text)
    if lang == "none":
        return True
    if lang != expected:
        return False
    if expected == "ja":
        for sentence in _SENTENCE_END.split(prose(text)):
            if len(_IDEOGRAPH.findall(sentence)) >= JA_SENTENCE_WITHOUT_KANA and not _KANA.search(sentence):
                return False
    return True


def _norm(text: str) -> str:
    """NFKC (full-width to ASCII), lower case, one space, no spaces around '+' (key chords)."""
    t = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower())
    return re.sub(r" ?\+ ?", "+", t)


def echoes(text: str, system_prompts: Sequence[str] = (SYSTEM_PROMPT, ANSWER_SYSTEM_PROMPT)) -> bool:
    """Chat-template markers, or a run of ECHO_NGRAM words (or ECHO_JA_CHARS Japanese characters) copied
    from a system prompt."""
    if any(m in text for m in CHAT_MARKERS):
        return True
    low = _norm(text)
    words = _WORD.findall(low)
    grams = {tuple(words[i : i + ECHO_NGRAM]) for i in range(len(words) - ECHO_NGRAM + 1)}
    for sp in system_prompts:
        sw = _WORD.findall(_norm(sp))
        if any(tuple(sw[i : i + ECHO_NGRAM]) in grams for i in range(len(sw) - ECHO_NGRAM + 1)):
            return True
        for run in _JA_RUN.findall(sp):
            if any(run[i : i + ECHO_JA_CHARS] in low for i in range(len(run) - ECHO_JA_CHARS + 1)):
                return True
    return False


def loops(text: str) -> bool:
    """Degenerate repetition: an n-gram of the prose LOOP_REPEATS times (code comments may restate it), a
    stretch of prose repeated back to back, a line of 8+ characters (code included) LOOP_REPEATS times, or one
    character LONGEST_CHAR_RUN times in a row. List numbers are left out: "7. X 8. Y" repeats "3. X 4. Y"."""
    low = _norm(text)
    if re.search(rf"(.)\1{{{LONGEST_CHAR_RUN - 1},}}", low.replace(" ", "")):
        return True
    lines = [ln.strip() for ln in text.lower().splitlines() if len(ln.strip()) >= 8]
    if lines and Counter(lines).most_common(1)[0][1] >= LOOP_REPEATS:
        return True
    unnumbered = _LIST_NUMBER.sub("", text)
    if tandem_repeat(_FENCE.sub(" ", unnumbered)):  # inline code kept: `try` ... vs `except` ... is no repeat
        return True
    units = _UNIT.findall(_norm(prose(unnumbered)))
    cjk = sum(1 for u in units if len(u) == 1 and not u.isascii())
    n = LOOP_NGRAM_CJK if cjk * 2 > len(units) else LOOP_NGRAM_WORDS
    grams = Counter(tuple(units[i : i + n]) for i in range(len(units) - n + 1))
    return bool(grams) and grams.most_common(1)[0][1] >= LOOP_REPEATS


def tandem_repeat(text: str, min_len: int = LOOP_TANDEM_CHARS) -> bool:
    """A stretch of min_len+ characters immediately followed by itself (spaces ignored): a loop caught
    after two periods, before it has had room for a third within the token limit."""
    t = re.sub(r"\s+", "", _norm(text))[:3000]  # quadratic: answers are far shorter
    for period in range(min_len, len(t) // 2 + 1):
        for i in range(len(t) - 2 * period + 1):
            if t[i : i + period] == t[i + period : i + 2 * period]:
                return True
    return False


def complete(text: str) -> bool:
    """Not cut mid-sentence: no unclosed code fence, and it ends with a sentence end, a closing bracket
    or quote, or closed code."""
    t = text.strip()
    if not t or t.count("```") % 2:
        return False
    if t.endswith("```"):
        return True
    t = t.rstrip("*_~ ")
    return bool(t) and t[-1] in _TERMINAL


def missing_terms(text: str, key_terms: Iterable[str]) -> tuple[str, ...]:
    """The key terms (each "alt1|alt2", lower case) none of whose alternatives the answer contains."""
    low = _norm(text)
    return tuple(term for term in key_terms if not any(_norm(alt) in low for alt in term.split("|") if alt))


def score_answer(
    answer: str,
    expected_lang: str,
    key_terms: Sequence[str],
    system_prompts: Sequence[str] = (SYSTEM_PROMPT, ANSWER_SYSTEM_PROMPT),
) -> AnswerScore:
    """Every criterion for one answer; an empty answer fails them all."""
    if not answer.strip():
        return AnswerScore(False, False, False, False, False, "none", tuple(key_terms))
    missing = missing_terms(answer, key_terms)
    return AnswerScore(
        language=in_language(answer, expected_lang),
        no_echo=not echoes(answer, system_prompts),
        no_loop=not loops(answer),
        complete=complete(answer),
        key_terms=not missing,
        answer_lang=answer_language(answer),
        missing=missing,
    )


def summarize(results: Iterable[tuple[str, AnswerScore]]) -> dict[str, dict[str, float]]:
    """Per language (and "all"): n, the usable rate and each criterion's pass rate, from (lang, score) pairs."""
    groups: dict[str, list[AnswerScore]] = {"all": []}
    for lang, s in results:
        groups["all"].append(s)
        groups.setdefault(lang, []).append(s)
    out: dict[str, dict[str, float]] = {}
    for lang, scores in groups.items():
        n = len(scores)
        row: dict[str, float] = {"n": float(n), "usable": sum(s.usable for s in scores) / n if n else 0.0}
        for c in CRITERIA:
            row[c] = sum(bool(getattr(s, c)) for s in scores) / n if n else 0.0
        out[lang] = row
    return out


def summary_table(summary: dict[str, dict[str, float]]) -> str:
    """A Markdown table: one row per metric, one column per language."""
    langs = ["all"] + sorted(k for k in summary if k != "all")
    lines = [
        "| metric | " + " | ".join(langs) + " |",
        "|---|" + "---|" * len(langs),
        "| n | " + " | ".join(str(int(summary[lg]["n"])) for lg in langs) + " |",
    ]
    for metric in ("usable", *CRITERIA):
        name = f"**{metric}**" if metric == "usable" else metric
        lines.append(f"| {name} | " + " | ".join(f"{summary[lg][metric]:.2f}" for lg in langs) + " |")
    return "\n".join(lines)
