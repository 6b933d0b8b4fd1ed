"""Asker-language detection (ja/en) from the text alone: kana/kanji share decides."""

from __future__ import annotations

import re

_JA = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
_LATIN = re.compile(r"[A-Za-z]")
_KANA = re.compile(r"[\u3040-\u30ff]")


def detect_lang(text: str) -> str:
    """'ja' when the message is mostly Japanese (any kana, or kanji outweighing latin letters), else 'en'."""
    ja = len(_JA.findall(text))
    if ja == 0:
        return "en"
    if _KANA.search(text):
        return "ja"
    return "ja" if ja * 2 >= len(_LATIN.findall(text)) else "en"
