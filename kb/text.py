"""Search terms for Japanese and English text, the same way for documents and queries.

FTS5's unicode61 tokenizer splits English on spaces and punctuation but keeps a run of Japanese
characters (no spaces) as one token, so no word inside it can be found. The `bigram` scheme therefore
rewrites every kanji, katakana and hiragana run into overlapping character bigrams (有給休暇 -> 有給 給休
休暇) before FTS5 sees it, the classic CJK indexing that also finds two-character words (経費, 出張) which
the trigram tokenizer cannot. English words are left for unicode61 + porter to tokenise and stem.
"""

from __future__ import annotations

import re
import unicodedata

# one script run: latin/digits (a word), kanji (with 々〆ヶ), katakana (with ー), hiragana
_RUNS = re.compile(
    r"(?P<latin>[a-z0-9]+(?:['’][a-z]+)?)"
    r"|(?P<kanji>[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶヵ]+)"
    r"|(?P<kata>[\u30a1-\u30faー・]+)"
    r"|(?P<hira>[\u3041-\u3096ー]+)"
)

# question words and fillers that carry no topic (the query side only; documents are indexed whole)
_EN_STOP_WORDS = """a about above after again all am an and any are as at be been before being below between both but by
    can could did do does doing don down during each else few for from further get gets getting got had has have
    having he her here hers him his how i if in into is it its itself just know let me might more most must my
    need needs no nor not now of off on once only or other our ours out over own please same shall she should
    so some such tell than that the their them then there these they this those through to too under until up
    us very want was we were what whats when where which while who whom why will with would you your yours
    many much long take around expected allowed possible okay ok anything someone whose happens"""
EN_STOP = frozenset(_EN_STOP_WORDS.split())
# bigrams of question phrasing (何日 = "how many days"; every bigram with 何 is dropped too), never a topic
_JA_STOP_WORDS = """場合 方法 必要 可能 教え 知り 下さ 以上 以下 以内
    です すか ます まし でし しょ ょう くだ ださ さい いつ どこ どう どの どれ なに なん"""
JA_STOP = frozenset(_JA_STOP_WORDS.split())


def normalize(text: str) -> str:
    """NFKC (full-width ASCII and digits -> ASCII, half-width kana -> full-width) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def _bigrams(run: str) -> list[str]:
    run = run.replace("・", "")
    if len(run) <= 1:
        return [run] if run else []
    return [run[i : i + 2] for i in range(len(run) - 1)]


def bigram_text(text: str) -> str:
    """Document text as the bigram scheme indexes it: Japanese runs become space-separated bigrams."""
    out: list[str] = []
    pos = 0
    norm = normalize(text)
    for m in _RUNS.finditer(norm):
        if m.lastgroup == "latin":
            continue
        out.append(norm[pos : m.start()])
        out.append(" " + " ".join(_bigrams(m.group())) + " ")
        pos = m.end()
    out.append(norm[pos:])
    return "".join(out)


def query_terms(query: str) -> list[str]:
    """The distinct search terms of a question: English words without stop words, bigrams of kanji and
    katakana runs (hiragana runs only when nothing else is left: they are mostly particles and endings)."""
    terms: list[str] = []
    single: list[str] = []  # one-kanji runs: mostly verb stems (取れます, 辞める), kept only when nothing else is
    hira: list[str] = []
    for m in _RUNS.finditer(normalize(query)):
        kind, run = m.lastgroup, m.group()
        if kind == "latin":
            if run not in EN_STOP and (len(run) > 1 or run.isdigit()):
                terms.append(run)
            continue
        grams = [g for g in _bigrams(run) if g not in JA_STOP and "何" not in g]
        if kind == "hira":
            hira.extend(grams)
        elif kind == "kanji" and len(run) == 1:
            single.extend(grams)
        else:
            terms.extend(grams)
    return list(dict.fromkeys(terms or single or hira))


def script_runs(query: str) -> list[tuple[str, str]]:
    """(kind, run) pairs of the normalised query: kind is latin, kanji, kata or hira."""
    return [(str(m.lastgroup), m.group()) for m in _RUNS.finditer(normalize(query))]


def is_japanese(text: str) -> bool:
    """True when the text has more Japanese characters than latin letters."""
    ja = sum(1 for ch in text if "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return ja > latin / 4


def fts_or(terms: list[str]) -> str:
    """An FTS5 MATCH expression: any of the terms, each quoted (no operator or column syntax leaks in)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
