"""The answer guard: what the model wrote is checked before it is posted as the bot's answer (pure, no model).

Small models loop, run out of tokens mid-sentence, drift into the wrong language or recite their system
prompt. None of that is worth posting. The bot feeds the answer stream through `AnswerGuard`:

- a loop (an n-gram of >= 4 words / >= 8 CJK characters 3 times with the same text between, a sentence
  or line repeated, a short phrase repeated back to back) stops generation, and the answer is cut right
  before the repetition starts (a repeated sentence keeps its first copy, a stuttered fragment none);
- an answer that ran out of tokens mid-sentence is cut back to its last sentence boundary (never inside
  a code block) and marked as shortened;
- an answer in the wrong language, one that echoes the instructions or only repeats the question, or one
  too short to be useful after a cut is not posted at all: the bot posts an honest fallback reply instead
  (a *fallback* outcome).

Offsets are character positions in the raw answer text; fenced code (```) is never cut inside and is
left out of the loop and language checks (code may repeat lines and is written in English).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from runtime.prompts import ANSWER_SYSTEM_PROMPT, SYSTEM_PROMPT

Outcome = Literal["ok", "loop_cut", "shortened", "fallback_language", "fallback_empty", "fallback_echo"]
OUTCOMES: tuple[Outcome, ...] = (
    "ok",
    "loop_cut",
    "shortened",
    "fallback_language",
    "fallback_empty",
    "fallback_echo",
)

CHECK_EVERY = 16  # characters: the checks run at least this often while streaming (and at each clause end)
# what remains after a cut must be at least this long to be worth posting (Japanese says more per character)
MIN_CHARS = {"en": 20, "ja": 10}
NGRAM_WEIGHT = 8  # a word weighs 2, a CJK character 1: 4 words or 8 CJK characters
NGRAM_REPEATS = 3
NGRAM_SPAN = 600  # characters from the first to the third occurrence: repeats further apart are prose
PHRASE_MAX_UNITS = 7  # a short phrase repeated back to back: up to 7 units long
ECHO_WEIGHT = 12  # 6 words / 12 CJK characters of the instructions in the answer = an echo
LANG_MIN_LETTERS = 12  # fewer letters than this: too little to judge the language
JA_MIN_SHARE = 0.25  # of letters; Japanese packs a word into 1-3 characters, English into ~5
EN_MIN_SHARE = 0.5
EARLY_LETTERS = 120  # the language is clearly wrong this early: stop generating
CHAT_MARKERS = ("<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "<|system|>", "<|assistant|>")

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\uac00-\ud7af"
_UNIT = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_DIGITS = re.compile(r"\d+")
_SEGMENT_END = re.compile(r"\n|[.!?]+(?=\s)|[。！？]+")
_CHECK_NOW = re.compile(r"[\n.!?。！？、，,]")
_JA = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_KANA = re.compile("[\u3040-\u30ff\uff66-\uff9f]")
_LATIN = re.compile("[A-Za-z]")
_FENCE = re.compile("```")
_INLINE_CODE = re.compile("`[^`\n]*`")
_URL = re.compile(r"https?://\S+")
_CLOSERS = "\"')]}»”’」』）】*_"
_SENTENCE_END = re.compile(f"(?:[.!?]+[{re.escape(_CLOSERS)}]*(?=\\s)|[。！？]+[{re.escape(_CLOSERS)}]*)")
_NOT_AN_END = re.compile(r"(?:(?:^|\n)[ \t]*\d+|(?:^|\s)(?:e\.g|i\.e|vs))\.$")  # list numbers, abbreviations
_OPEN_LINE = (":", "：", ",", "、")  # a line ending like this announces more: not a complete line
_LIST_MARK = re.compile(r"^(?:[-*•・]|\d+[.)]|[（(]?\d+[)）])\s*")


@dataclass(frozen=True)
class GuardResult:
    """What to post: `text` (cut, with the shortened marker when cut short) unless `fallback`."""

    outcome: Outcome
    text: str
    cut_at: int | None = None  # where the raw answer was cut, in characters (None: uncut)

    @property
    def fallback(self) -> bool:
        """The answer is not worth posting: post the fallback reply instead."""
        return self.outcome.startswith("fallback")


@dataclass(frozen=True)
class _Unit:
    norm: str  # lower case, digits as "#" (a loop that counts is still a loop)
    start: int
    cjk: bool

    @property
    def weight(self) -> int:
        return 1 if self.cjk else 2


class AnswerGuard:
    """Feed the streamed pieces; `feed` says when to stop generating; `finish` gives what to post.

    `lang` is the asker's language (ja/en) and `request` their text (a request mixing both languages
    accepts an answer in either); `marker` is the visible "(shortened)" text in the asker's language (the
    bot renders it from a template); `instructions` are the texts the answer must never recite.
    """

    def __init__(
        self,
        lang: str,
        marker: str,
        *,
        request: str = "",
        instructions: Sequence[str] = (SYSTEM_PROMPT, ANSWER_SYSTEM_PROMPT),
        min_chars: int | None = None,
    ) -> None:
        self.lang = "ja" if lang == "ja" else "en"
        self.marker = marker
        self.min_chars = MIN_CHARS[self.lang] if min_chars is None else min_chars
        self.langs = _accepted_langs(self.lang, request)
        self._request = tuple(u.norm for u in _units(_prose(request)))
        self._instruction_grams = {g for text in instructions for g in _weighted_grams(_units(text), ECHO_WEIGHT)}
        self.text = ""
        self._unchecked = 0  # characters fed since the last check
        self.loop_at: int | None = None
        self.stop_reason: Outcome | None = None

    @property
    def visible(self) -> str:
        """The text so far without a detected repetition (for streaming updates)."""
        return self.text if self.loop_at is None else self.text[: self.loop_at]

    def feed(self, piece: str) -> bool:
        """Add a piece; True when generation should stop (a loop, or a fallback already certain)."""
        if self.stop_reason is not None:
            return True
        self.text += piece
        self._unchecked += len(piece)
        if self._unchecked < CHECK_EVERY and not _CHECK_NOW.search(piece):
            return False  # the checks read the whole text: run them per clause or so, not per token
        self._unchecked = 0
        self.loop_at = find_loop(self.text)
        if self.loop_at is not None:
            self.stop_reason = "loop_cut"
        elif self._echoes(self.text):
            self.stop_reason = "fallback_echo"
        elif _wrong_language(self.text, self.langs, early=True):
            self.stop_reason = "fallback_language"
        return self.stop_reason is not None

    def finish(self, *, budget_hit: bool = False) -> GuardResult:
        """The verdict on the whole answer; `budget_hit`: generation ended because max_tokens was reached."""
        raw = self.text
        if self._echoes(raw):
            return GuardResult("fallback_echo", "")
        loop_at = self.loop_at if self.loop_at is not None else find_loop(raw + "\n")  # a last sentence repeated
        outcome: Outcome = "ok"
        cut: int | None = None
        if loop_at is not None:
            outcome, cut = "loop_cut", _outside_code(raw, min(loop_at, len(raw)))
        elif budget_hit and not ends_complete(raw):
            outcome, cut = "shortened", last_boundary(raw)
        body = (raw if cut is None else raw[:cut]).strip()
        if not body or (cut is not None and len(body) < self.min_chars):
            return GuardResult("fallback_empty", "", cut)
        if _only_repeats(body, self._request):
            return GuardResult("fallback_echo", "", cut)
        if _wrong_language(body, self.langs):
            return GuardResult("fallback_language", "", cut)
        if outcome == "shortened" or (outcome == "loop_cut" and not ends_complete(body)):
            body = f"{body}\n{self.marker}"  # the answer visibly stops early
        return GuardResult(outcome, body, cut)

    def _echoes(self, text: str) -> bool:
        if any(m in text for m in CHAT_MARKERS):
            return True
        return any(g in self._instruction_grams for g in _weighted_grams(_units(text), ECHO_WEIGHT))


def _only_repeats(body: str, request: tuple[str, ...]) -> bool:
    """The answer says nothing but (a part of) the question: small models echo a question they cannot answer.
    A short reply (under 4 words / 8 CJK characters, e.g. "Hello!") may well repeat a short greeting."""
    units = _units(_prose(body))
    if sum(u.weight for u in units) < NGRAM_WEIGHT:
        return False
    said, n = tuple(u.norm for u in units), len(units)
    return any(request[i : i + n] == said for i in range(len(request) - n + 1))


def guard_answer(text: str, lang: str, marker: str, *, request: str = "", budget_hit: bool = False) -> GuardResult:
    """The guard on a whole answer at once (for callers that do not stream)."""
    guard = AnswerGuard(lang, marker, request=request)
    guard.feed(text)
    return guard.finish(budget_hit=budget_hit)


# ---------------------------------------------------------------------------------------------- code
def code_spans(text: str) -> list[tuple[int, int, bool]]:
    """Fenced code blocks as (start, end, closed): from the opening ``` to the end of the closing fence's
    line; an unclosed block runs to the end of the text."""
    spans: list[tuple[int, int, bool]] = []
    fences = [m.start() for m in _FENCE.finditer(text)]
    for i in range(0, len(fences), 2):
        if i + 1 < len(fences):
            nl = text.find("\n", fences[i + 1] + 3)
            spans.append((fences[i], len(text) if nl < 0 else nl, True))
        else:
            spans.append((fences[i], len(text), False))
    return spans


def _in_code(pos: int, spans: list[tuple[int, int, bool]]) -> tuple[int, int, bool] | None:
    return next((s for s in spans if s[0] <= pos < s[1]), None)


def _outside_code(text: str, pos: int) -> int:
    """A cut inside a code block moves back to before the block (code is never cut mid-block)."""
    span = _in_code(pos, code_spans(text))
    return pos if span is None else span[0]


def _prose(text: str) -> str:
    """The text without code (fenced and inline) and URLs, offsets kept (blanked with spaces)."""
    chars = list(text)
    for start, end, _ in code_spans(text):
        chars[start:end] = " " * (end - start)
    out = "".join(chars)
    for pattern in (_INLINE_CODE, _URL):
        out = pattern.sub(lambda m: " " * len(m.group(0)), out)
    return out


# ---------------------------------------------------------------------------------------------- loops
def _units(text: str) -> list[_Unit]:
    """Words and single CJK characters, punctuation left out."""
    out = []
    for m in _UNIT.finditer(text):
        tok = m.group(0)
        out.append(_Unit(_DIGITS.sub("#", tok.lower()), m.start(), bool(_CJK_CHAR.fullmatch(tok))))
    return out


def _windows(units: list[_Unit], weight: int) -> list[tuple[int, int]]:
    """Every shortest run [i, j) of units weighing at least `weight`, in order of i."""
    out: list[tuple[int, int]] = []
    j, total = 0, 0
    for i in range(len(units)):
        while j < len(units) and total < weight:
            total += units[j].weight
            j += 1
        if total < weight:
            break
        out.append((i, j))
        total -= units[i].weight
    return out


def _weighted_grams(units: list[_Unit], weight: int) -> list[tuple[str, ...]]:
    return [tuple(u.norm for u in units[i:j]) for i, j in _windows(units, weight)]


def find_loop(text: str) -> int | None:
    """Where to cut a repetition, or None. A repeated sentence keeps its first copy (cut at the second);
    a repeated fragment (no sentence end in it, like 「わからないですが、」) loses every copy."""
    prose = _prose(text)
    units = _units(prose)
    cuts = []
    for found in (_ngram_loop(units), _phrase_loop(units), _sentence_loop(prose)):
        if found is not None:
            first, second = found
            cuts.append(second if _SEGMENT_END.search(prose[first:second] + " ") else first)
    code = _code_loop(text)
    if code is not None:
        cuts.append(code)
    return min(cuts) if cuts else None


def _ngram_loop(units: list[_Unit]) -> tuple[int, int] | None:
    """An n-gram (>= 4 words / 8 CJK characters) three times, with the same text between the occurrences:
    a loop repeats a whole block. The same phrase with different words between is an enumeration (prose)."""
    norms = [u.norm for u in units]
    seen: dict[tuple[str, ...], list[int]] = {}
    for i, j in _windows(units, NGRAM_WEIGHT):
        at = seen.setdefault(tuple(norms[i:j]), [])
        at.append(i)
        if len(at) < NGRAM_REPEATS:
            continue
        first, second, third = at[-3], at[-2], at[-1]
        if units[third].start - units[first].start > NGRAM_SPAN or norms[first:second] != norms[second:third]:
            continue
        while first > 0 and norms[first - 1] == norms[second - 1]:
            first, second = first - 1, second - 1  # the repeated block may begin before the n-gram
        return units[first].start, units[second].start
    return None


def _phrase_loop(units: list[_Unit]) -> tuple[int, int] | None:
    """A short phrase three times back to back (a single word: four times), like 「わからないですが、」 x3."""
    norms = [u.norm for u in units]
    best: tuple[int, int] | None = None
    for p in range(1, PHRASE_MAX_UNITS + 1):
        need = (3 if p > 1 else 4) - 1  # further copies after the first
        run = 0
        for k in range(len(norms) - p):
            run = run + 1 if norms[k] == norms[k + p] else 0
            if run < need * p:
                continue
            i = k - need * p + 1  # units[i:i+p] is repeated need more times right after itself
            block = units[i : i + p]
            heavy = sum(u.weight for u in block) >= 4 or (p == 1 and not block[0].cjk)
            if heavy and any(u.norm != "#" for u in block):
                if best is None or units[i].start < best[0]:
                    best = (units[i].start, units[i + p].start)
                break
    return best


def _sentence_loop(prose: str) -> tuple[int, int] | None:
    """A complete sentence or line of >= 4 words / 8 CJK characters seen before (list marks aside)."""
    seen: dict[tuple[str, ...], int] = {}
    start = 0
    for m in _SEGMENT_END.finditer(prose):
        seg = prose[start : m.end()]
        at = start + len(seg) - len(seg.lstrip())
        start = m.end()
        units = _units(_LIST_MARK.sub("", seg.strip()))
        if sum(u.weight for u in units) < NGRAM_WEIGHT:
            continue
        key = tuple(u.norm for u in units)
        if key in seen:
            return seen[key], at
        seen[key] = at
    return None


def _code_loop(text: str) -> int | None:
    """The same code line three times in a row: the block is dropped (cut before its fence)."""
    for start, end, _ in code_spans(text):
        lines = [ln.strip() for ln in text[start:end].split("\n")[1:]]
        lines = [ln for ln in lines if ln]
        for k in range(len(lines) - 2):
            if len(lines[k]) >= 8 and lines[k] == lines[k + 1] == lines[k + 2]:
                return start
    return None


# ---------------------------------------------------------------------------------------------- ends
def ends_complete(text: str) -> bool:
    """The text ends at a sentence end, a complete line or a closed code block (not inside one)."""
    stripped = text.rstrip()
    if not stripped:
        return False
    spans = code_spans(stripped)
    if spans and spans[-1][1] >= len(stripped):
        return spans[-1][2]  # ends with a code block: complete only when it is closed
    if "\n" in text[len(stripped) :]:
        return not stripped.endswith(_OPEN_LINE)  # a complete line
    tail = stripped.rstrip(_CLOSERS)
    return tail.endswith(("。", "！", "？")) or (tail.endswith((".", "!", "?")) and not _NOT_AN_END.search(tail))


def last_boundary(text: str) -> int:
    """The end of the last complete sentence, line or closed code block (0 if none); never inside code."""
    spans = code_spans(text)
    ends = [end for _, end, closed in spans if closed]
    for m in _SENTENCE_END.finditer(text):
        if not _NOT_AN_END.search(text[: m.start() + 1]):
            ends.append(m.end())
    for m in re.finditer("\n", text):
        line = text[text.rfind("\n", 0, m.start()) + 1 : m.start()].strip()
        if line and not line.endswith(_OPEN_LINE):
            ends.append(m.start())
    ends = [e for e in ends if _in_code(e - 1, spans) is None or any(e == end for _, end, _ in spans)]
    return max(ends, default=0)


# ---------------------------------------------------------------------------------------------- language
def _shares(text: str) -> tuple[int, float, float]:
    """(letters, Japanese share, Latin share) of the prose: code, inline code and URLs left out. Han
    without any kana counts as Chinese, not Japanese."""
    prose = _prose(text)
    letters = sum(1 for ch in prose if ch.isalpha())
    if not letters:
        return 0, 0.0, 0.0
    ja = len(_JA.findall(prose))
    if ja >= 10 and not _KANA.search(prose):
        ja = 0
    return letters, ja / letters, len(_LATIN.findall(prose)) / letters


def _accepted_langs(lang: str, request: str) -> tuple[str, ...]:
    """The asker's language; both when the request itself mixes them (e.g. English about a Japanese term)."""
    letters, ja, latin = _shares(request)
    if letters >= LANG_MIN_LETTERS and ja >= JA_MIN_SHARE and latin >= JA_MIN_SHARE:
        return ("ja", "en")
    return (lang,)


def _wrong_language(text: str, langs: tuple[str, ...], early: bool = False) -> bool:
    """Mostly not in any accepted language. A ja answer needs >= 25 % Japanese letters (a Japanese word is
    1-3 characters, an English one ~5, so that is about half the words), an en answer >= 50 % Latin ones.
    `early` (while streaming): only when it is already clear, a stricter bar on more text."""
    letters, ja, latin = _shares(text)
    if letters < (EARLY_LETTERS if early else LANG_MIN_LETTERS):
        return False
    scale = 1 / 3 if early else 1.0
    ok = {"ja": ja >= JA_MIN_SHARE * scale, "en": latin >= EN_MIN_SHARE * scale}
    return not any(ok[lang] for lang in langs)
