"""Readable forms of a request, so that a request hidden by encoding is judged as what it says.

A gate that reads only the literal text is walked past with base64, hex, percent-encoding, ROT13,
reversed text or leetspeak, with invisible characters inside words, or with chat-template markers
typed to fake a system turn. These pure functions (stdlib only, bounded work, never raising on any
input) turn such a request into the forms a verdict is taken on; the caller keeps the worst verdict.
False positives cost a model evaluation each, so every decoder demands clear evidence.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import math
import re
import unicodedata
import urllib.parse
from collections.abc import Callable

MAX_LEVELS = 2  # nested encodings: base64 of hex decodes, base64 of base64 of ... stops here
MAX_VARIANTS = 8  # each readable form costs one evaluation of the safety head

# Zero-width, bidi and other invisible format characters, fillers, variation selectors and tags.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
# Unicode tag characters spell ASCII invisibly ("ASCII smuggling"): shown as the ASCII they encode.
_TAGS = re.compile("[\U000e0020-\U000e007e]")


def strip_invisible(text: str) -> str:
    """Without invisible characters, NFKC-normalised (full-width Latin to ASCII, half-width kana to full)."""
    revealed = _TAGS.sub(lambda m: chr(ord(m.group()) - 0xE0000), text)
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", _INVISIBLE.sub("", revealed)))


def _name(word: str) -> str:
    """A marker name tolerant of spaces around its underscores: im_start, im _ start, im start."""
    return r"\s*_?\s*".join(re.escape(part) for part in word.split("_"))


_BAR = "[|\uff5c]"  # DeepSeek writes its markers with the full-width bar
_ROLE = r"(?:system|user|assistant|model|developer|tool|ipython|human|bot|function)"
_MARKER = re.compile(
    "|".join(
        (
            # Llama 3: the header and the role it names
            rf"<\s*{_BAR}\s*{_name('start_header_id')}\s*{_BAR}\s*>[^<>\n]{{0,40}}?"
            rf"<\s*{_BAR}\s*{_name('end_header_id')}\s*{_BAR}\s*>",
            # ChatML and Gemma turn openers with the role line that follows them
            rf"(?:<\s*{_BAR}\s*{_name('im_start')}\s*{_BAR}\s*>|<\s*{_name('start_of_turn')}\s*>)"
            rf"(?:[ \t]*{_ROLE}\b[ \t]*:?)?",
            # any <|token|>: im_end, endoftext, system, user, assistant, end, begin_of_text, eot_id, ...
            rf"<\s*{_BAR}[^<>|\uff5c\n]{{0,64}}{_BAR}\s*>",
            # Llama 2 / Mistral
            r"\[\s*/?\s*INST\s*\]",
            r"<<\s*/?\s*SYS\s*>>",
            # <s>, </s> and Gemma
            rf"<\s*/?\s*(?:s|bos|eos|{_name('start_of_turn')}|{_name('end_of_turn')})\s*>",
        )
    ),
    re.IGNORECASE,
)


def _tidy(text: str) -> str:
    """Spaces collapsed within lines, at most one blank line in a row, no outer whitespace."""
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def neutralize_markers(text: str) -> tuple[str, bool]:
    """The text without chat-template control markers of any model family, and whether it had any."""
    cleaned, count = _MARKER.subn("\n", text)
    if not count:
        return text, False
    return _tidy(cleaned), True


# Function words and common verbs: enough to tell English from ROT13, reversed or leet text.
_COMMON_WORDS = """
    a about after all also am an and any are as ask at be because been before being both but by call can
    could did do does doing done each every explain find first for from get give go going good got had has
    have he her here him his how i if in into is it its just keep know let like look made make many me
    might more most must my need new no not now of off on one only or other our out over people please put
    read run said say see send she should show so some someone something step steps take tell than that
    the their them then there these they thing things think this those through to tool try under up us
    use used very want was way we well were what when where which while who why will with without work
    would write you your
"""
_COMMON = frozenset(_COMMON_WORDS.split())
# A whole word: not part of "4a6f", of an identifier ("n_ctx") or of an escape ("\\n").
_WORD = re.compile(r"(?<![A-Za-z0-9_%\\])[A-Za-z']+(?![A-Za-z0-9_])")
# A run of whole words, the unit that ROT13 and reversal are judged on.
_SEGMENT = re.compile(r"(?<![A-Za-z0-9_%\\])[A-Za-z']+(?:[ \t,\-]+[A-Za-z']+)*(?![A-Za-z0-9_])")
# English letter frequencies (%): ROT13 of English, or of romaji, reads as z, q, x, v rather than e, t, a, o.
_LETTER_PCT = (
    8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15, 0.77, 4.0, 2.4,
    6.7, 7.5, 1.9, 0.095, 6.0, 6.3, 9.1, 2.8, 0.98, 2.4, 0.15, 2.0, 0.074,
)  # fmt: skip
_LETTER_LOGP = {chr(ord("a") + i): math.log(p / 100) for i, p in enumerate(_LETTER_PCT)}
_ROT_MENTION = re.compile(r"rot\s*[-_]?\s*13|caesar|シーザー", re.IGNORECASE)


def _hits(text: str) -> tuple[int, int, int]:
    """(common English words, distinct ones, all words) in the text."""
    words = [w.strip("'").lower() for w in _WORD.findall(text)]
    common = [w for w in words if w in _COMMON]
    return len(common), len(set(common)), len(words)


def _clearly_more(new: tuple[int, int, int], old: tuple[int, int, int]) -> bool:
    """Whether a reading (new) has clearly more English than the text as written (old): "so so so" is not."""
    return new[1] >= 3 and new[0] >= 2 * old[0] + 1 and 4 * new[0] >= old[2]


def _letter_logp(text: str) -> tuple[float, int]:
    """(log-likelihood of the Latin letters under English letter frequencies, how many letters)."""
    letters = [_LETTER_LOGP[c] for c in text.lower() if c in _LETTER_LOGP]
    return sum(letters), len(letters)


def _as_text(data: bytes) -> str | None:
    """The bytes as UTF-8 text when they read as text (printable, with letters), else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start == 0 or err.reason != "unexpected end of data":
            return None
        text = data[: err.start].decode("utf-8")  # a multi-byte character cut at the end
    if len(set(text)) < 3:
        return None  # "ffff...", one character repeated: not a message
    printable = sum(1 for c in text if c.isprintable() or c in "\t\n\r")
    wordish = sum(1 for c in text if c.isalnum() or c.isspace())
    if printable < 0.95 * len(text) or 2 * wordish < len(text) or not any(c.isalpha() for c in text):
        return None
    return text


_B64_RUN = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{16,}={0,2}(?![A-Za-z0-9+/_\-=])")
_URLSAFE = str.maketrans("-_", "+/")


def _from_base64(run: str) -> str | None:
    core = run.rstrip("=").translate(_URLSAFE)
    for cand in dict.fromkeys((core, core.strip("+/"))):  # a stray '-' or '/' glued to the run
        if len(cand) % 4 == 1:
            cand = cand[:-1]  # one character more than whole bytes: not data
        if len(cand) < 16:
            continue
        try:
            data = base64.b64decode(cand + "=" * (-len(cand) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        text = _as_text(data)
        if text is not None:
            return text
    return None


_HEX_RUN = re.compile(
    r"(?<![0-9A-Za-z\\])(?:(?:0[xX]|\\[xX])?[0-9A-Fa-f]{2}(?:[ \t]*[,;:][ \t]*|[ \t]+)?){8,}"
    r"(?<![ \t,;:])(?![0-9A-Za-z])"
)


def _from_hex(run: str) -> str | None:
    digits = re.sub(r"0[xX]|\\[xX]|[^0-9A-Fa-f]", "", run)
    if len(digits) < 16 or len(digits) % 2:
        return None
    return _as_text(bytes.fromhex(digits))


_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
_PCT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _from_percent(run: str) -> str | None:
    try:
        text = urllib.parse.unquote_to_bytes(run).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if all(c.isprintable() or c.isspace() for c in text) else None


def _replace_runs(text: str, pattern: re.Pattern[str], decode: Callable[[str], str | None]) -> str:
    """The text with every run of the pattern that decodes replaced by what it says, in place."""

    def one(m: re.Match[str]) -> str:
        decoded = decode(m.group())
        return m.group() if decoded is None else decoded

    return pattern.sub(one, text)


_MENTION_REACH = 300


def _near_mention(text: str, start: int, end: int) -> bool:
    """Whether the text says ROT13 (or Caesar) within _MENTION_REACH characters of start..end."""
    window = text[max(0, start - _MENTION_REACH) : end + _MENTION_REACH]
    return _ROT_MENTION.search(window) is not None


def _rot13(text: str) -> str:
    mentioned = _ROT_MENTION.search(text) is not None

    def one(m: re.Match[str]) -> str:
        seg = m.group()
        rot = codecs.decode(seg, "rot13")
        old, new = _hits(seg), _hits(rot)
        if _clearly_more(new, old):
            return rot
        if mentioned and _near_mention(text, m.start(), m.end()):
            # said to be ROT13: weaker evidence will do (a romaji or a one-word payload), but not "pv" or "hz"
            before, letters = _letter_logp(seg)
            gain = _letter_logp(rot)[0] - before
            if new[0] > old[0] and new[1] >= 2:
                return rot
            if new[0] >= old[0] and letters >= 3 * old[2] and gain >= max(1.5, 0.25 * letters):
                return rot
        return seg

    return _SEGMENT.sub(one, text)


# Word order, when reversing the whole run and reversing each word find the same words.
_BIGRAM_WORDS = """
    how_to to_make to_be of_the in_the to_the on_the for_the is_the is_a it_is i_want want_to need_to
    tell_me show_me give_me help_me can_you how_do do_i how_can can_i i_need please_tell me_how
"""
_BIGRAMS = frozenset(_BIGRAM_WORDS.split())


def _bigrams(text: str) -> int:
    words = [w.strip("'").lower() for w in _WORD.findall(text)]
    return sum(1 for a, b in zip(words, words[1:], strict=False) if f"{a}_{b}" in _BIGRAMS)


def _unreversed(text: str) -> str | None:
    """The text read backwards (all of it, or each word) when that gives clearly more English words."""
    old = _hits(text)
    best, best_score = None, (0, 0)
    for cand in (text[::-1], _WORD.sub(lambda w: w.group()[::-1], text)):
        new = _hits(cand)
        score = (new[0], _bigrams(cand))
        if score > best_score and _clearly_more(new, old):
            best, best_score = cand, score
    return best


def _reversed(text: str) -> str:
    whole = _unreversed(text)  # all of it backwards: punctuation goes back in place too
    if whole is not None:
        return whole

    def one(m: re.Match[str]) -> str:
        return _unreversed(m.group()) or m.group()

    return _SEGMENT.sub(one, text)


_LEET = str.maketrans("134057@$", "ieaostas")
_LEET_CHARS = frozenset("134057@$")
_TOKEN = re.compile(r"\S+")
_EDGE = ".,!?;:\"'()[]{}<>*"


def _leet(text: str) -> str:
    """Leetspeak read as letters, where a run of words (not code: "t0 = time()") reads as English."""
    tokens = list(_TOKEN.finditer(text))
    plain: list[str | None] = []  # each token read as letters, None where it is not a word either way
    for m in tokens:
        core = m.group().strip(_EDGE)
        read = core.translate(_LEET)
        plain.append(read if read.isascii() and read.isalpha() else None)
    decode: set[int] = set()
    i = 0
    while i < len(tokens):
        if plain[i] is None:
            i += 1
            continue
        j = i
        while j < len(tokens) and plain[j] is not None:
            j += 1
        run = range(i, j)  # consecutive tokens that read as words
        leet = [k for k in run if _LEET_CHARS.intersection(tokens[k].group())]
        mixed = [k for k in leet if any(c.isalpha() for c in tokens[k].group())]  # "m4k3" is evidence, "4" not
        gained = [word for word in (str(plain[k]).lower() for k in mixed) if word in _COMMON]
        distinct = set(gained)  # "t0" twenty times is one word; "d0 1f a7" (a hex dump) has no long one
        if len(distinct) >= 2 and max(map(len, distinct)) >= 3 and 2 * len(gained) >= len(mixed):
            decode.update(leet)
        i = j
    if not decode:
        return text
    out: list[str] = []
    last = 0
    for k in sorted(decode):
        m = tokens[k]
        out.append(text[last : m.start()])
        out.append(m.group().translate(_LEET))
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def _one_level(text: str) -> list[tuple[str, str]]:
    """Each kind of hiding found in the text, with the text where it is undone."""
    out = [
        ("base64", _replace_runs(text, _B64_RUN, _from_base64)),
        ("hex", _replace_runs(text, _HEX_RUN, _from_hex)),
        ("url", _replace_runs(text, _PCT_RUN, _from_percent) if len(_PCT.findall(text)) >= 3 else text),
        ("rot13", _rot13(text)),
        ("reversed", _reversed(text)),
        ("leet", _leet(text)),
    ]
    return [(kind, decoded) for kind, decoded in out if decoded != text]


def decoded_variants(text: str, max_len: int = 20000) -> list[tuple[str, str]]:
    """(kind, text with the hidden part decoded in place) for each hiding found, nested up to MAX_LEVELS.

    Kinds: base64, hex, url, rot13, reversed, leet; a nested form is listed under its last decoding.
    Only the first max_len characters are read; [] when nothing was hidden; never raises.
    """
    found: list[tuple[str, str]] = []
    try:
        start = text[: max(0, max_len)]
        seen = {start}
        frontier = [start]
        for _ in range(MAX_LEVELS):
            deeper: list[str] = []
            for source in frontier:
                for kind, decoded in _one_level(source):
                    decoded = decoded[:max_len]
                    if decoded in seen:
                        continue
                    seen.add(decoded)
                    found.append((kind, decoded))
                    deeper.append(decoded)
                    if len(found) >= MAX_VARIANTS:
                        return found
            frontier = deeper
    except Exception:  # noqa: BLE001 - a decoder must never block the verdict; the original is still judged
        return found
    return found


def _normalized(text: str) -> str:
    try:
        return neutralize_markers(strip_invisible(text))[0]
    except Exception:  # noqa: BLE001 - e.g. a lone surrogate in a library that rejects it
        return text


def _hides_something(text: str) -> bool:
    """Whether normalising can change what the text says: markers, invisible characters, or compatibility
    forms of letters and digits ("ｂｏｍｂ", "ｶﾀｶﾅ"). Japanese typography ("？", "（", "…", the ideographic
    space) changes nothing, and a normalised form would cost one more evaluation on ordinary Japanese."""
    if _INVISIBLE.search(text) or _MARKER.search(text):
        return True
    for ch in set(text):
        folded = unicodedata.normalize("NFKC", ch)
        if folded != ch and any(c.isalnum() for c in folded):
            return True
    return False


def readable_forms(text: str) -> list[tuple[str, str]]:
    """The forms to take the verdict on: the original first, its normalised form when normalising changes
    more than typography, then each decoded form (decoded from the normalised text, then normalised)."""
    forms = [("original", text)]
    normalized = _normalized(text)
    if normalized != text and _hides_something(text):
        forms.append(("normalized", normalized))
    seen = {text, normalized}
    for kind, decoded in decoded_variants(normalized):
        readable = _normalized(decoded)  # a decoded payload may carry its own markers or invisibles
        if readable not in seen:
            seen.add(readable)
            forms.append((kind, readable))
    return forms
