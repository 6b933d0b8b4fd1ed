"""Faithful grounded answers: the model's answer is checked against the passages it was given, and when it
states what they do not say, the asker gets the passages' own sentences instead, quoted and cited.

A small answering model copies, misreads (¥12,000 where the page says ¥15,000) or ignores the passage.
`check(answer, passages, question)` is pure and cheap (no model):

- every number in the answer (amounts, days, times, dates, percentages; full-width digits, thousands
  commas, ¥ / 円 / yen / USD and 万 / 千 normalised) must occur in a passage or in the question; an amount
  with a currency must have that currency in the passage too (USD 220 is not ¥220);
- every product or system name written in CamelCase (SpendWise, TripDesk) must occur in a passage;
- the answer must share at least one content word (of the passages' text), number or name with the
  passages beyond the words of the question itself (an answer that only restates the question, or talks
  about something else, fails).

`extractive(question, passages, lang)` is the answer posted instead: the one to three sentences of the
passages that best match the question, ranked by FTS5 bm25 over the same bigram terms the index uses,
each quoted with its [n], under a line in the asker's language. `grounded_answer` does both.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from kb.render import clean
from kb.search import Passage
from kb.text import bigram_text, fts_or, normalize, query_terms

GroundingOutcome = Literal["model", "extractive_fact", "extractive_overlap", "extractive_empty"]
GROUNDING_OUTCOMES: tuple[GroundingOutcome, ...] = (
    "model",
    "extractive_fact",
    "extractive_overlap",
    "extractive_empty",
)

# The line above an extractive answer, in the asker's language.
EXTRACTIVE_HEADER = {
    "en": "Here is what the team's documents say:",
    "ja": "社内文書には次のように書かれています:",
}

_CITATION = re.compile(r"\[\d{1,2}\]")
_LIST_MARK = re.compile(r"(?m)^[ \t]*(?:\d{1,2}[.)]|[-*•・])[ \t]+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# an amount: a currency before or after a number (with 万 / 千 written in kanji), or a plain number
_NUMBER = re.compile(
    r"(?P<pre>¥|\$|€|\b(?:usd|jpy|eur)\b)?\s*"
    r"(?P<num>\d+(?:\.\d+)?)(?P<man>万(?:\d+千?)?|千)?"
    r"\s*(?P<post>円|ドル|ユーロ|\b(?:yen|jpy|usd|dollars?|eur|euros?)\b)?",
    re.IGNORECASE,
)
_CURRENCY = {
    "¥": "jpy", "jpy": "jpy", "円": "jpy", "yen": "jpy",
    "$": "usd", "usd": "usd", "dollar": "usd", "dollars": "usd", "ドル": "usd",
    "€": "eur", "eur": "eur", "euro": "eur", "euros": "eur", "ユーロ": "eur",
}  # fmt: skip
# facts and quotes come from the passages covering at least this share of the best one's coverage (chosen
# between three simple rules: every retrieved passage, those above the relevance threshold, and this one)
FOCUS_SHARE = 0.5
# "1" as "per": 1泊, 1回, 1日あたり, 1か月につき (not a figure of the page; 1か月以内 still is one)
_PER = re.compile(r"[泊回人件枚個つ名度晩]|[かヶヵカ]?(?:月|年|週|日|時間)(?:あたり|当たり|につき|ごと)")
_CAMEL = re.compile(r"\b[A-Za-z]*[a-z][A-Z][A-Za-z]*\b")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.;])\s+(?=[A-Z0-9(\"“「])")
_MARKUP = re.compile(r"\*\*|__|`")


@dataclass(frozen=True)
class Grounding:
    """What check() found: ok, or why not (unsupported facts, no overlap with the passages)."""

    ok: bool
    reason: Literal["ok", "unsupported", "no_overlap", "empty"]
    unsupported: tuple[str, ...] = ()  # the numbers or names of the answer that no passage holds


def _plain(text: str) -> str:
    """NFKC, lower case, thousands commas removed, citation marks and list markers taken out."""
    text = _LIST_MARK.sub(" ", unicodedata.normalize("NFKC", text))
    text = _CITATION.sub(" ", text)
    return _THOUSANDS.sub("", text).lower()


def _value(num: str, man: str | None) -> str:
    """The number as one canonical string: 2万 -> 20000, 1万5千 -> 15000, 07 -> 7, 7.50 -> 7.5."""
    if man:
        if man == "千":
            return _canon(float(num) * 1000)
        rest = man[1:]
        extra = 0.0
        if rest:
            extra = float(rest[:-1]) * 1000 if rest.endswith("千") else float(rest)
        return _canon(float(num) * 10000 + extra)
    return _canon(float(num))


def _canon(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


@dataclass(frozen=True)
class _Facts:
    numbers: frozenset[str]  # every number, canonical (an amount's number too)
    amounts: frozenset[tuple[str, str]]  # (currency, number) for numbers written with a currency
    bare: frozenset[str]  # numbers written without a currency
    names: frozenset[str]  # CamelCase names, lower case


def facts(text: str, *, source: bool = False) -> _Facts:
    """The numbers, amounts and CamelCase names of `text`. With `source` (a passage) 2万 also counts as 2."""
    plain = _plain(text)
    numbers: set[str] = set()
    amounts: set[tuple[str, str]] = set()
    bare: set[str] = set()
    for m in _NUMBER.finditer(plain):
        value = _value(m.group("num"), m.group("man"))
        if value == "1" and not source and _PER.match(plain, m.end()):
            continue
        currency = _CURRENCY.get((m.group("pre") or m.group("post") or "").lower())
        numbers.add(value)
        if source and m.group("man"):
            numbers.add(_canon(float(m.group("num"))))
        if currency:
            amounts.add((currency, value))
        else:
            bare.add(value)
    names = {n.lower() for n in _CAMEL.findall(unicodedata.normalize("NFKC", text))}
    return _Facts(frozenset(numbers), frozenset(amounts), frozenset(bare), frozenset(names))


def _stems(text: str) -> set[str]:
    """Content terms for the overlap test: Japanese bigrams as the index makes them, English words cut to
    their first five letters (a crude stem: submit / submitted / submission)."""
    return {t[:5] if t.isascii() else t for t in query_terms(text)}


def _source(passages: Sequence[Passage]) -> str:
    return "\n".join(f"{p.title}\n{p.heading}\n{p.text}" for p in passages)


@functools.lru_cache(maxsize=64)
def _source_facts(source_text: str) -> tuple[_Facts, str]:
    """The facts of the passages (and the question) and their normalised text, once per answer, not per piece."""
    return facts(source_text, source=True), normalize(source_text)


def unsupported(answer: str, passages: Sequence[Passage], question: str = "") -> tuple[str, ...]:
    """The numbers, amounts and CamelCase names of `answer` that neither the passages nor the question hold."""
    src, lowered = _source_facts(_source(passages) + "\n" + question)
    got = facts(answer)
    missing: list[str] = []
    for currency, value in sorted(got.amounts):
        if (currency, value) not in src.amounts and value not in src.bare:
            missing.append(f"{currency} {value}")
    missing += [v for v in sorted(got.bare) if v not in src.numbers]
    missing += [n for n in sorted(got.names) if n not in lowered]
    return tuple(missing)


def check(answer: str, passages: Sequence[Passage], question: str = "") -> Grounding:
    """Is every number and CamelCase name of `answer` in the passages (or the question), and does the answer
    say anything of the passages beyond the question's own words?"""
    if not answer.strip():
        return Grounding(False, "empty")
    missing = unsupported(answer, passages, question)
    if missing:
        return Grounding(False, "unsupported", missing)
    got = facts(answer)
    asked = _stems(question)
    body = "\n".join(p.text for p in passages)  # not the titles and headings ("Answer", "Question")
    shared = (_stems(_plain(answer)) & _stems(body)) - asked
    told = (got.numbers - facts(question).numbers) | got.names
    if not shared and not told:
        return Grounding(False, "no_overlap")
    return Grounding(True, "ok")


def supported(answer: str, passages: Sequence[Passage], question: str = "") -> bool:
    """The fact half of check() alone, for a partial answer while it streams (overlap comes only at the end)."""
    return not unsupported(answer, passages, question)


def sentences(passage: Passage) -> list[str]:
    """The passage's sentences: paragraphs joined across wrapped lines, heading lines left out, Markdown
    emphasis and chat-template markers removed."""
    headings = {h.strip() for h in passage.heading.split("·")} | {passage.title.strip()}
    out: list[str] = []
    for para in re.split(r"\n\s*\n", clean(passage.text)):
        lines = [ln.strip().lstrip("#").strip() for ln in para.splitlines() if ln.strip()]
        lines = [ln for ln in lines if ln not in headings]
        if not lines:
            continue
        joined = lines[0]
        for ln in lines[1:]:
            cjk = not joined[-1:].isascii() and not ln[:1].isascii()
            joined += ("" if cjk else " ") + ln
        for s in _SENTENCE_END.split(_MARKUP.sub("", joined)):
            s = _LIST_MARK.sub("", s).strip()
            if len(s) >= 4:
                out.append(s)
    return out


def best_sentences(question: str, passages: Sequence[Passage], limit: int = 3) -> list[tuple[int, str]]:
    """(citation number, sentence): the sentences that best match the question by bm25 over the index's bigram
    terms, best first; up to `limit`, each at least half as good as the best. When no sentence shares a term
    with the question (asked in the other language), the first two sentences of the first passage."""
    candidates = [(p.number, s) for p in passages for s in sentences(p)]
    if not candidates:
        return []
    terms = query_terms(question)
    scored: list[tuple[float, int]] = []
    if terms:
        conn = sqlite3.connect(":memory:")
        try:
            conn.execute("CREATE VIRTUAL TABLE s USING fts5(body, tokenize='porter unicode61 remove_diacritics 2')")
            rows_in = [(i, bigram_text(text)) for i, (_n, text) in enumerate(candidates)]
            conn.executemany("INSERT INTO s(rowid, body) VALUES (?, ?)", rows_in)
            rows = conn.execute("SELECT rowid, bm25(s) FROM s WHERE s MATCH ?", (fts_or(terms),)).fetchall()
        finally:
            conn.close()
        # higher is better; the earlier passage (better ranked) wins a tie
        scored = sorted(((-float(b), int(r)) for r, b in rows), key=lambda x: (-x[0], candidates[x[1]][0], x[1]))
    if not scored:
        first = passages[0].number
        return [c for c in candidates if c[0] == first][:2]
    top = scored[0][0]
    chosen = [i for s, i in scored if s >= top * 0.5][:limit] if top > 0 else [scored[0][1]]
    return [candidates[i] for i in sorted(chosen, key=lambda i: (candidates[i][0], i))]


def extractive(question: str, passages: Sequence[Passage], lang: str = "en", limit: int = 3) -> str:
    """The passages' own best sentences for the question, quoted and cited, under a line in the asker's
    language: "" when the passages have no sentence at all."""
    picked = best_sentences(question, passages, limit)
    if not picked:
        return ""
    ja = lang == "ja"
    lines = [EXTRACTIVE_HEADER["ja" if ja else "en"]]
    for number, s in picked:
        lines.append(f"「{s}」[{number}]" if ja else f"“{s}” [{number}]")
    return "\n".join(lines)


def focus(passages: Sequence[Passage], share: float = FOCUS_SHARE) -> list[Passage]:
    """The passages that answer the question: those covering at least `share` of what the best one covers
    (a retrieved passage that only shares a common word with the question is not a source for its facts)."""
    best = max((p.coverage for p in passages), default=0.0)
    return [p for p in passages if p.coverage >= share * best]


def grounded_answer(
    answer: str, passages: Sequence[Passage], question: str, lang: str = "en"
) -> tuple[str, GroundingOutcome, Grounding]:
    """The answer to post: the model's when check() passes against the focused passages (focus()), else the
    extractive answer from them (never a mix). Returns (text, outcome, the check). With no sentence to quote
    the model's answer stands."""
    passages = focus(passages)
    result = check(answer, passages, question)
    if result.ok or not passages:
        return answer, "model", result
    text = extractive(question, passages, lang)
    if not text:
        return answer, "model", result
    outcome: GroundingOutcome = {
        "unsupported": "extractive_fact",
        "no_overlap": "extractive_overlap",
    }.get(result.reason, "extractive_empty")  # type: ignore[assignment]
    return text, outcome, result
