"""Words of a person at risk: first-person statements of wanting to die or to hurt oneself (ja/en).

The hazard head learned self-harm mostly from requests for methods; a plain statement of distress
("もう生きているのがつらいです", "I don't want to live anymore") can read as an ordinary message to it
(p(hazard) 0.18 for the first, under `support_review`). These phrases are a floor under it: any of them
in the request (NFKC, case-folded) routes the request to the support channel with support resources
in the asker's language at once, whatever the heads said (and also when the model fails: the
fail-closed card is then the support one). A phrase inside quotation marks (「…」, “…”, "…") is someone
else's words ("a colleague told me 「消えたい」: what do I say?") and does not count, unless one's own
thought is what is quoted (毎日「消えたい」と思ってしまう). Admins add their own through `safety.support_terms`.

Only phrases that are a statement about oneself are listed, not topics ("suicide prevention training"
is an ordinary request). On the project's training datasets they match 13 of 15,088 safe rows (most of
them someone disclosing such feelings while asking where to get help, which the support team should
see), 19 of 248 self-harm rows (most of those ask for methods, which the hazard head reads) and 7 other
harmful rows (self-harm written under another hazard).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

SUPPORT_TERMS: tuple[str, ...] = (
    # Japanese: wanting to die or disappear, finding it hard to go on living, wanting to hurt oneself
    "死にたい",
    "しにたい",
    "消えたい",
    "きえたい",
    "生きているのがつらい",
    "生きてるのがつらい",
    "生きているのが辛い",
    "生きてるのが辛い",
    "生きるのがつらい",
    "生きるのが辛い",
    "生きていたくない",
    "生きてたくない",
    "生きる意味がない",
    "生きてる意味がない",
    "生きている意味がない",
    "自殺したい",
    "死んでしまいたい",
    "死んだ方がまし",
    "死んだほうがまし",
    "死んだ方が楽",
    "死んだほうが楽",
    "いなくなりたい",
    "自分を傷つけたい",
    "リスカしたい",
    "首を吊りたい",
    "飛び降りたい",
    # English
    "kill myself",
    "killing myself",
    "want to die",
    "wanna die",
    "end my life",
    "ending my life",
    "suicidal",
    "don't want to live",
    "dont want to live",
    "don't want to be alive",
    "no reason to live",
    "better off dead",
    "take my own life",
    "taking my own life",
    "hurt myself",
    "cut myself",
    "cutting myself",
)

# someone else's words: Japanese corner brackets, curly and straight double quotes; but not one's own
# thought put in brackets, as Japanese does (毎日「消えたい」と思ってしまう, 「死にたい」って感じる)
_QUOTED = re.compile(
    r"(?:「[^「」]*」|『[^『』]*』|“[^“”]*”|\"[^\"]*\")(?!\s*(?:と|って|とか)\s*(?:思|おも|感じ|かんじ|考え|かんがえ))"
)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().replace("’", "'")


def support_hit(texts: Sequence[str], terms: Sequence[str] = SUPPORT_TERMS) -> str | None:
    """The first phrase of a person at risk in any of `texts` (outside quotation marks), else None."""
    unquoted = [_QUOTED.sub(" ", _fold(t)) for t in texts]
    for term in terms:
        t = _fold(term).strip()
        if t and any(t in u for u in unquoted):
            return term
    return None
