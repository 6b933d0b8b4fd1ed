"""PII masking for what the audit store keeps: secrets, e-mail, IPs, bank accounts, addresses, cards,
My Number and phone numbers, in Japanese and English text.

Masks are typed placeholders ([SECRET], [EMAIL], [IP], [BANK], [ADDRESS], [CARD], [MYNUMBER],
[PHONE]) so reports and training data keep the shape of a request without the person.

Matching runs on an NFKC-normalised copy of the text (full-width digits, letters, "＋", "：", "－",
"（" and the ideographic space become ASCII), one character of the copy pointing back to one of the
original, and the spans found are replaced in the original text: the rest of the message, full-width
or not, is kept as written. Recognisers run in a fixed order (secrets, e-mail, IPs, bank accounts,
addresses, then digit runs); a character claimed by one is not seen by the next. Check digits (Luhn,
My Number, IBAN mod 97, ABA) and phone-number metadata (the `phonenumbers` library) keep order
numbers, dates, versions and prices out. Numbers are delimited by what they are not (a letter, a
digit or a digit's "." / "-"), never by what follows, so ".", ",", ":", "、", "。", brackets and
quotes around them cannot hide them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers

KINDS = ("SECRET", "EMAIL", "IP", "BANK", "ADDRESS", "CARD", "MYNUMBER", "PHONE")

_HOLE = "\ue000"  # stands in the matching copy for characters already claimed by a span
_D = "\\-‐‑‒–—―−ー"  # hyphen-like characters that still differ after NFKC (inside [...])
_DASH = f"[{_D}]"
_NOT_WORD_BEFORE = r"(?<![0-9A-Za-z_])"
# not the tail of a longer number ("1.2.3", "12-34") or of a hyphenated id ("INV-0001234", UUIDs)
_NOT_NUMBER_BEFORE = rf"(?<![0-9][.{_D}])(?<![0-9A-Za-z_]-)"

# --- secrets -----------------------------------------------------------------------------------

_TOKENS = [
    re.compile(_NOT_WORD_BEFORE + r"(?:sk|pk|rk)-(?:proj-|live-|test-)?[A-Za-z0-9_-]{20,}"),
    re.compile(_NOT_WORD_BEFORE + r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(_NOT_WORD_BEFORE + r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}"),
    re.compile(_NOT_WORD_BEFORE + r"github_pat_[A-Za-z0-9_]{40,}"),
    re.compile(_NOT_WORD_BEFORE + r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z_])"),
    re.compile(_NOT_WORD_BEFORE + r"AIza[0-9A-Za-z_-]{35}"),
    re.compile(_NOT_WORD_BEFORE + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/-]{20,}=*"),
]
# key=value with a secret-looking value (at least 16 chars, a digit and a letter): group 2 is masked
_KEY_VALUE = re.compile(
    r"(?i)((?:api[_-]?key|secret|token|password|passwd|パスワード|トークン)[\"']?\s?[:=]\s?[\"']?)"
    r"((?=[A-Za-z0-9_\-./+]*\d)(?=[A-Za-z0-9_\-./+]*[A-Za-z])[A-Za-z0-9_\-./+]{16,})"
)

# --- e-mail and IP addresses ---------------------------------------------------------------------

# not glued to a word or a dotted word before it ("…taro@example.com" is fine, "a.b" is one word)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9_%+-])(?<![A-Za-z0-9_%+-]\.)[A-Za-z0-9_%+-][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])"
)
_IPV4_BODY = r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}"
_IPV4 = re.compile(r"(?<![0-9A-Za-z_])(?<![0-9A-Za-z_]\.)" + _IPV4_BODY + r"(?![0-9A-Za-z_])(?!\.[0-9A-Za-z])")
# an ASCII token with two colons at least; the address is cut out of it in _ipv6 ("IP:2001:db8::1.")
_IPV6_TOKEN = re.compile(r"(?<![0-9A-Za-z_:.])[0-9A-Za-z_.]*:[0-9A-Za-z_.]*:[0-9A-Za-z_:.]*")
_CIDR = re.compile(r"/([0-9]{1,2})(?![0-9])")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bversion|\bver\.?|\bbuild|\brelease|バージョン|リリース)\s*[:#]?\s*$")

# --- bank accounts -------------------------------------------------------------------------------

_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN_START = re.compile(r"(?<![0-9A-Za-z_])([A-Za-z]{2})[0-9]{2}")
# Japanese: the account number (7 digits, optionally after a 3-digit branch) after a bank word
_JA_BANK = re.compile(
    r"(?:口座番号|口座|普通預金|当座預金|貯蓄預金|普通|当座|支店|店番)[^0-9。\n]{0,24}?"
    rf"(?<![0-9])((?:[0-9]{{3}}{_DASH}?)?[0-9]{{7}})(?![0-9])(?!\s?(?:円|万|億|件|個|人|%|ドル|yen))"
)
# Japan Post Bank: 記号 (5 digits) and 番号 (8 digits)
_JA_YUCHO = re.compile(
    r"記号\s?[:]?\s?([0-9]{5}(?:" + _DASH + r"[0-9])?)[^0-9。\n]{0,8}?番号\s?[:]?\s?([0-9]{8})(?![0-9])"
)
_EN_BANK = re.compile(
    r"(?i)(?<![A-Za-z])(?:account|acct|a/c)\.?(?:\s?(?:number|no\.?|num|#))?\s?[:#]?\s?"
    r"([0-9](?:[0-9]|[ -](?=[0-9])){5,16})(?![0-9A-Za-z])"
)
_SORT_CODE = re.compile(r"(?i)sort\s?code\s?[:]?\s?([0-9]{2}-[0-9]{2}-[0-9]{2})(?![0-9])")
_ROUTING = re.compile(r"(?i)(?:routing|\bABA)(?:\s?(?:number|no\.?|#))?\s?[:#]?\s?([0-9]{9})(?![0-9A-Za-z])")

# --- postal addresses -----------------------------------------------------------------------------

_JA_PREF = (
    "(?:北海道|東京都|京都府|大阪府|(?:青森|岩手|宮城|秋田|山形|福島|茨城|栃木|群馬|埼玉|千葉|神奈川|新潟|富山|石川|"
    "福井|山梨|長野|岐阜|静岡|愛知|三重|滋賀|兵庫|奈良|和歌山|鳥取|島根|岡山|広島|山口|徳島|香川|愛媛|高知|福岡|"
    "佐賀|長崎|熊本|大分|宮崎|鹿児島|沖縄)県)"
)
_JA_PREF_RE = re.compile(_JA_PREF)
# kanji, katakana, 々 and the kana that occur inside place names (丸の内, 霞が関, 虎ノ門, 市ヶ谷)
_JA_NAME = "[\u4e00-\u9fff\u3005\u30a1-\u30fcヶケがのノ]"
_JA_HIRAGANA_CITY = (
    "(?:さいたま|つくばみらい|つくば|ひたちなか|いわき|かすみがうら|みどり|あきる野|いちき串木野|うるま|みよし)"
)
# a municipality ends at its first 市/区/町/村/郡 (one may also open it: 市川市, 町田市), so the
# pattern does not backtrack through every split of a run of kanji
_JA_MUNI_NAME = rf"(?:(?![市区町村郡]){_JA_NAME})"
_JA_MUNI = rf"(?:(?:{_JA_HIRAGANA_CITY}|[市町村郡]?{_JA_MUNI_NAME}{{0,6}})[市区町村郡]\s?){{1,3}}"
_KNUM = "[0-9一二三四五六七八九十]+"
_JA_STRICT = (
    rf"{_KNUM}丁目\s?[0-9]+(?:番地?|{_DASH})\s?[0-9]+号?"
    rf"|{_KNUM}丁目\s?[0-9]+番地?"
    rf"|[0-9]+{_DASH}[0-9]+{_DASH}[0-9]+(?:{_DASH}[0-9]+)?"
    r"|[0-9]+番地(?:の?[0-9]+)?"
    r"|[0-9]+番[0-9]+号"
)
_JA_LOOSE = rf"[0-9]+(?:{_DASH}|の)[0-9]+"
_JA_ADDRESS = re.compile(
    rf"(?P<zip>〒\s?[0-9]{{3}}{_DASH}?[0-9]{{4}}\s?)?"
    rf"(?P<pref>{_JA_PREF}\s?)?"
    rf"{_JA_MUNI}"
    rf"(?:(?:(?![のがノ]){_JA_NAME}|{_KNUM}条)(?:{_JA_NAME}|{_KNUM}条|[上下]る|[東西]入る?){{0,11}}?)?\s?"
    rf"(?:(?P<strict>{_JA_STRICT})|(?P<loose>{_JA_LOOSE}))(?![0-9])"
    rf"(?:\s?(?:{_JA_NAME}|[A-Za-z0-9]){{1,20}}?\s?[0-9]+(?:号室|階|[Ff])|{_DASH}?[0-9]+号室)?"
)
_EN_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Parkway|Pkwy|"
    r"Way|Terrace|Close|Crescent|Square|Sq|Highway|Hwy|Circle|Cir|Trail|Loop|Row|Mews|Gardens|Walk|Plaza)"
    r"\.?(?![A-Za-z])"
)
_EN_WORD = r"(?:[A-Z][a-z'’]+|[0-9]{1,3}(?:st|nd|rd|th))"
_EN_PLACE = r"[A-Z][a-z]+(?: [A-Z][a-z]+){0,2}"
_EN_ADDRESS = re.compile(
    _NOT_WORD_BEFORE + _NOT_NUMBER_BEFORE + r"(?:"
    r"[0-9]{1,6}[A-Za-z]?(?:-[0-9]{1,6}[A-Za-z]?)?,? "
    r"(?:(?:[NSEW]|NE|NW|SE|SW)\.? )?"
    rf"(?:{_EN_WORD} ){{1,5}}{_EN_SUFFIX}"
    r"|(?i:P\.? ?O\.? ?Box) ?[0-9]{1,6}"
    r")"
    r"(?:,? (?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm)\.? ?#?[0-9A-Za-z-]{1,6}|,? #[0-9A-Za-z-]{1,6})?"
    rf"(?:, {_EN_PLACE}){{0,2}}"
    r"(?:,? [A-Z]{2} [0-9]{5}(?:-[0-9]{4})?|,? [A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}|,? [0-9]{5}(?:-[0-9]{4})?)?"
    r"(?![0-9A-Za-z])"
)

# --- digit runs: cards, My Number, phones ---------------------------------------------------------

# a run of digit groups joined by one separator each; "TEL"/"FAX" may touch the number
_RUN = re.compile(
    r"(?:(?<![0-9A-Za-z_])|(?<=[Tt][Ee][Ll])|(?<=[Ff][Aa][Xx]))" + _NOT_NUMBER_BEFORE
    + r"(?:\+ ?)?(?:\( ?)?[0-9]++"
    rf"(?:(?: ?{_DASH} ?|\.| ?\) ?| ?\( ?| )[0-9]++)*+"
    r"(?![0-9A-Za-z_])(?!\.[0-9])"
)  # fmt: skip
_GROUP = re.compile(r"[0-9]+")
_SOFT_SEP = re.compile(r"[0-9](?: ?[()] ?| )(?=[0-9])")
_PHONE_BEFORE = re.compile(
    r"(?i)(?:tel|phone|call|mobile|cell|fax|text|whatsapp|dial|reach|contact|電話|携帯|連絡)[^0-9]{0,20}$"
)
# a Discord user, channel or role id ("<@284837292734823423>", "discord:…") is a snowflake, not a card
_CHAT_ID_BEFORE = re.compile(r"(?i)(?:<[@#][!&]?|discord:)$")
_ISBN_BEFORE = re.compile(r"(?i)isbn(?:[- ]?1[03])?\s*[:]?\s*$")


@dataclass(frozen=True)
class Masked:
    text: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Span:
    """One PII span of the original text: text[start:end] is replaced by [kind]."""

    kind: str
    start: int
    end: int


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def my_number_ok(digits: str) -> bool:
    """Japanese individual number (12 digits): the last digit is a mod-11 check digit."""
    if len(digits) != 12 or not digits.isdigit():
        return False
    body = [int(c) for c in digits[:11]]
    s = 0
    for n in range(1, 12):
        q = n + 1 if n <= 6 else n - 5
        s += body[11 - n] * q
    r = s % 11
    check = 0 if r <= 1 else 11 - r
    return check == int(digits[11])


def ean13_ok(digits: str) -> bool:
    """EAN-13 / JAN / ISBN-13 check digit (weights 1, 3)."""
    if len(digits) != 13 or not digits.isdigit():
        return False
    s = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(digits[:12]))
    return (10 - s % 10) % 10 == int(digits[12])


def iban_ok(iban: str) -> bool:
    """Country length and the ISO 13616 mod-97 check (spaces and dashes ignored)."""
    s = re.sub(r"[ \-]", "", iban).upper()
    if len(s) < 5 or _IBAN_LENGTHS.get(s[:2]) != len(s) or not s.isalnum() or not s[2:4].isdigit():
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def aba_ok(digits: str) -> bool:
    """US routing number check (weights 3, 7, 1)."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    w = (3, 7, 1) * 3
    return sum(int(c) * k for c, k in zip(digits, w, strict=True)) % 10 == 0


def _looks_like_timestamp(digits: str) -> bool:
    """yyyymmddhhmm (a log timestamp, not a My Number)."""
    y, mo, d, h, mi = int(digits[:4]), int(digits[4:6]), int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    return 1900 <= y <= 2099 and 1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59


def _looks_like_bad_check(raw: str) -> bool:
    """Grouped like a card (13-19 digits, first group of 4) or a My Number (4-4-4)."""
    sizes = [len(g) for g in _GROUP.findall(raw)]
    n = sum(sizes)
    return len(sizes) > 1 and sizes[0] == 4 and (13 <= n <= 19 or sizes == [4, 4, 4])


def _phone_ok(raw: str, region: str | None, possible: bool = False) -> bool:
    """Valid per the phonenumbers metadata; with `possible`, a plausible length is enough."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return False
    if phonenumbers.is_valid_number(number):
        return True
    return possible and bool(phonenumbers.is_possible_number(number))


def _classify(raw: str, before: str, phone_only: bool = False) -> str | None:
    """The kind of one digit run (already cut to a candidate), or None."""
    groups = _GROUP.findall(raw)
    digits = "".join(groups)
    n = len(digits)
    if n < 7 or n > 19 or _CHAT_ID_BEFORE.search(before):
        return None
    sizes = [len(g) for g in groups]
    if raw.startswith("+"):
        # a "+" and digit groups is a phone even in a range the metadata does not know yet
        return "PHONE" if 7 <= n <= 15 and _phone_ok(raw, None, possible=n >= 9 and len(groups) > 2) else None
    if not phone_only:
        if n == 12 and sizes in ([12], [4, 4, 4]) and my_number_ok(digits) and not _looks_like_timestamp(digits):
            return "MYNUMBER"
        if (
            13 <= n <= 19
            and (len(groups) == 1 or (sizes[0] == 4 and max(sizes) <= 6))
            and digits[0] in "23456"
            and luhn_ok(digits)
            and not (n == 13 and ean13_ok(digits))
        ):
            return "CARD"
    if _ISBN_BEFORE.search(before):
        return None
    if digits[0] == "0":
        # 0X-XXXX-XXXX, 0XX(XXX)XXXX, 0120-XXX-XXX: the Japanese shape is enough once it is grouped
        grouped = len(groups) == 3 and 2 <= sizes[0] <= 5 and sizes[2] in (3, 4) and not digits.startswith("00")
        if n in (10, 11) and (_phone_ok(raw, "JP", possible=grouped) or _phone_ok(raw, "GB")):
            return "PHONE"
        return None
    nanp = sizes in ([3, 3, 4], [1, 3, 3, 4])
    unbroken = len(groups) == 1 and (n == 10 or (n == 11 and digits[0] == "1")) and _PHONE_BEFORE.search(before)
    if (nanp or unbroken) and _phone_ok(raw, "US"):
        return "PHONE"
    return None


class _Scan:
    """The normalised copy of a text, with each character's index in the original."""

    def __init__(self, text: str) -> None:
        chars: list[str] = []
        origin: list[int] = []
        for i, ch in enumerate(text):
            norm = (ch if ch.isascii() else unicodedata.normalize("NFKC", ch)) or ch
            for c in norm:
                chars.append("\ufffd" if c == _HOLE else c)
                origin.append(i)
        self.chars = chars
        self.origin = origin
        self._norm = "".join(chars)
        self._stale = False
        self.spans: list[Span] = []

    @property
    def norm(self) -> str:
        """The copy with claimed characters blanked out (rebuilt once per recogniser, not per claim)."""
        if self._stale:
            self._norm = "".join(self.chars)
            self._stale = False
        return self._norm

    def before(self, start: int, width: int = 30) -> str:
        return self._norm[max(0, start - width) : start]

    def claim(self, kind: str, start: int, end: int) -> None:
        if start >= end or _HOLE in self.chars[start:end]:
            return
        self.spans.append(Span(kind, self.origin[start], self.origin[end - 1] + 1))
        self.chars[start:end] = [_HOLE] * (end - start)
        self._stale = True

    def each(self, pattern: re.Pattern[str], kind: str, accept: Callable[[re.Match[str]], bool] | None = None) -> None:
        for m in pattern.finditer(self.norm):
            if accept is None or accept(m):
                self.claim(kind, m.start(), m.end())


def _ipv4_ok(scan: _Scan, m: re.Match[str]) -> bool:
    try:
        ip = ipaddress.IPv4Address(m.group(0))
    except ValueError:
        return False
    # loopback and 0.0.0.0 name every machine, so no one; "version 1.2.3.4" is a version
    if ip.is_loopback or ip.is_unspecified or _VERSION_BEFORE.search(scan.before(m.start())):
        return False
    cidr = _CIDR.match(m.string, m.end())
    if cidr is not None:  # "10.0.0.0/8" is a network, not a host
        try:
            ipaddress.IPv4Network(f"{ip}/{cidr.group(1)}")
        except ValueError:
            return True
        return int(cidr.group(1)) == 32
    return True


def _ipv6_valid(s: str) -> bool:
    # three groups at least: "::1" and "::5140" (a "::" before a number) are no one's address
    if s.count(":") < 2 or len([g for g in re.split(r"[:.]", s) if g]) < 3:
        return False
    try:
        ip = ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified)


def _skip_dots(tok: str, i: int) -> int:
    """Past the dots and colons at tok[i:] ("...2001:db8::1", "::fe80:…" typed in error)."""
    return i + len(tok[i:]) - len(tok[i:].lstrip(".:"))


def _ipv6(scan: _Scan) -> None:
    for m in _IPV6_TOKEN.finditer(scan.norm):
        tok = m.group(0)
        first = tok.find(":") + 1  # after a label: "IP:", "ID:"
        heads = sorted({0, _skip_dots(tok, 0), first, _skip_dots(tok, first)})
        bare = tok.rstrip(".")
        tails = [len(tok), len(bare)]
        if bare.endswith(":"):
            tails.append(len(bare) - 1)  # "2001:db8::1:" and "2001:db8:::" (an address, then a colon)
        if ":::" in tok:
            tails.append(tok.index(":::") + 2)  # "2001:db8:::8080"
        found = next(((h, t) for h in heads for t in tails if h < t and _ipv6_valid(tok[h:t])), None)
        if found is not None:
            scan.claim("IP", m.start() + found[0], m.start() + found[1])


def _ibans(scan: _Scan) -> None:
    text = scan.norm
    for m in _IBAN_START.finditer(text):
        length = _IBAN_LENGTHS.get(m.group(1).upper())
        if length is None:
            continue
        i, got = m.end(), 4
        while got < length and i < len(text):
            c = text[i]
            if c.isascii() and c.isalnum():
                got += 1
                i += 1
            elif c in " -" and i + 1 < len(text) and text[i + 1].isascii() and text[i + 1].isalnum():
                i += 1
            else:
                break
        glued = i < len(text) and text[i].isascii() and text[i].isalnum()
        if got == length and not glued and iban_ok(text[m.start() : i]):
            scan.claim("BANK", m.start(), i)


def _bank_groups(scan: _Scan, pattern: re.Pattern[str], check: Callable[[str], bool] | None = None) -> None:
    for m in pattern.finditer(scan.norm):
        for g in range(1, (pattern.groups or 0) + 1):
            value = m.group(g)
            if value is not None and (check is None or check(value)):
                scan.claim("BANK", m.start(g), m.end(g))


def _ja_addresses(scan: _Scan) -> None:
    text = scan.norm
    for m in _JA_ADDRESS.finditer(text):
        start = m.start()
        if m.group("zip") is None and m.group("pref") is None:
            pref = _JA_PREF_RE.search(text, m.start(), m.end())
            if pref is not None:
                start = pref.start()  # "本社東京都…" starts at 東京都, not at 社
        # a loose number (123-4, also a score or a range) needs a prefecture or a postal code
        has_context = m.group("zip") is not None or _JA_PREF_RE.search(text, start, m.end()) is not None
        if m.group("strict") is not None or has_context:
            scan.claim("ADDRESS", start, m.end())


def _pieces(start: int, raw: str) -> list[tuple[int, int]]:
    """The parts of a run between soft separators (a space or a parenthesis); a dash or a dot
    never splits a number."""
    cuts = [start]
    for sep in _SOFT_SEP.finditer(raw):
        cuts.append(start + sep.start() + 1)
        cuts.append(start + sep.end())
    cuts.append(start + len(raw))
    return [(cuts[k], cuts[k + 1]) for k in range(0, len(cuts), 2)]


def _runs(scan: _Scan) -> None:
    text = scan.norm  # claims below only blank what they claim; the snapshot stays good for reading
    for m in _RUN.finditer(text):
        raw = m.group(0)
        start = m.start()
        kind = _classify(raw, scan.before(start))
        if kind is not None:
            if raw.startswith("(") and raw.count("(") > raw.count(")"):
                start += 1  # the opening parenthesis was around the number, not part of it
            scan.claim(kind, start, m.end())
            continue
        if _looks_like_bad_check(raw):
            continue  # a card or My Number with a wrong check digit is not two phone numbers
        # two numbers side by side ("03-1234-5678 090-1234-5678", "1) 090-…"): the longest run of
        # pieces (six at most) that is one, left to right; more than one piece can only be a phone
        pieces = _pieces(start, raw)
        if len(pieces) < 2:
            continue
        i = 0
        while i < len(pieces):
            for j in range(min(len(pieces), i + 6), i, -1):
                if i == 0 and j == len(pieces):
                    continue
                a, b = pieces[i][0], pieces[j - 1][1]
                if i == 0 and text[a] == "(":
                    a += 1
                kind = _classify(text[a:b], scan.before(a), phone_only=j - i > 1)
                if kind is not None:
                    scan.claim(kind, a, b)
                    i = j - 1
                    break
            i += 1


def detect(text: str) -> list[Span]:
    """The PII spans of `text` (indices into `text`), in order, not overlapping."""
    scan = _Scan(text)
    for pat in _TOKENS:
        scan.each(pat, "SECRET")
    for m in _KEY_VALUE.finditer(scan.norm):
        scan.claim("SECRET", m.start(2), m.end(2))
    scan.each(_EMAIL, "EMAIL")
    _ipv6(scan)
    scan.each(_IPV4, "IP", lambda m: _ipv4_ok(scan, m))
    _ibans(scan)
    _bank_groups(scan, _JA_YUCHO)
    _bank_groups(scan, _JA_BANK)
    _bank_groups(scan, _SORT_CODE)
    _bank_groups(scan, _ROUTING, lambda v: aba_ok(v))
    _bank_groups(scan, _EN_BANK)
    _ja_addresses(scan)
    scan.each(_EN_ADDRESS, "ADDRESS")
    _runs(scan)
    return sorted(scan.spans, key=lambda s: s.start)


def _digits(raw: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", raw) if ch.isdigit())


@lru_cache(maxsize=1)
def public_numbers() -> frozenset[str]:
    """The phone numbers the bot posts itself (crisis lines and the like in templates/bot/): public, never
    a person's, so never masked; else a person at risk reads "いのちの電話 [PHONE]" in the console."""
    from templates import TEMPLATES_DIR

    found: set[str] = set()
    for path in sorted((TEMPLATES_DIR / "bot").glob("*.j2")):
        text = path.read_text(encoding="utf-8")
        found.update(_digits(text[sp.start : sp.end]) for sp in detect(text) if sp.kind == "PHONE")
    return frozenset(found)


def mask(text: str) -> Masked:
    """The text with each PII span replaced by its kind, and how many of each were found (the bot's own
    public numbers, `public_numbers()`, are kept)."""
    counts: Counter[str] = Counter()
    parts: list[str] = []
    pos = 0
    public = public_numbers()
    for span in detect(text):
        if span.kind == "PHONE" and _digits(text[span.start : span.end]) in public:
            continue
        parts.append(text[pos : span.start])
        parts.append(f"[{span.kind}]")
        counts[span.kind] += 1
        pos = span.end
    parts.append(text[pos:])
    return Masked("".join(parts), dict(counts))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
