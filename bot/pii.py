"""PII masking for what the audit store keeps: e-mail, phones, cards, My Number, IPs, API keys.

Masks are typed placeholders ([EMAIL], [PHONE], ...) so reports and training data keep the shape
of a request without the person. Check digits (Luhn, My Number) keep order numbers and dates out.
Full-width digits and hyphens (common in Japanese text) are handled: Python's \\d matches them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field

_DASH = r"[-‐‑–－ー−]"
_SEP = rf"(?:[ \u3000]|{_DASH})"

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_TOKENS = [
    re.compile(r"\b(?:sk|pk|rk)-(?:proj-|live-|test-)?[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/-]{20,}=*"),
]
# key=value with a secret-looking value (at least 16 chars, a digit and a letter): group 2 is masked
_KEY_VALUE = re.compile(
    r"(?i)((?:api[_-]?key|secret|token|password|passwd|パスワード|トークン)[\"']?\s?[:=：]\s?[\"']?)"
    r"((?=[A-Za-z0-9_\-./+]*\d)(?=[A-Za-z0-9_\-./+]*[A-Za-z])[A-Za-z0-9_\-./+]{16,})"
)
# digit runs with separators; classified by digit count and check digits below
_DIGITS = re.compile(
    r"(?<![0-9A-Za-z_.,/:+＋０-９])(?:[+＋]\d{1,3}" + _SEP + r"?)?\(?\d[\d \u3000\-‐‑–－ー−()]{6,24}\d"
    r"(?![0-9A-Za-z_.,/:０-９])"
)
_IPV4 = re.compile(r"(?<![0-9A-Za-z_.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9A-Za-z_.])")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:.])")


@dataclass(frozen=True)
class Masked:
    text: str
    counts: dict[str, int] = field(default_factory=dict)


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
    if len(digits) != 12:
        return False
    body = [int(c) for c in digits[:11]]
    s = 0
    for n in range(1, 12):
        q = n + 1 if n <= 6 else n - 5
        s += body[11 - n] * q
    r = s % 11
    check = 0 if r <= 1 else 11 - r
    return check == int(digits[11])


def _digits_only(s: str) -> str:
    return "".join(str(int(c)) for c in s if c.isdigit())


def _classify_number(raw: str) -> str | None:
    digits = _digits_only(raw)
    n = len(digits)
    intl = raw.lstrip("(").startswith(("+", "＋"))
    if n == 12 and not intl and my_number_ok(digits):
        return "MYNUMBER"
    if 13 <= n <= 19 and not intl and luhn_ok(digits):
        return "CARD"
    if intl and 8 <= n <= 15:
        return "PHONE"
    if digits.startswith("0") and n in (10, 11) and not digits.startswith("00"):
        groups = [g for g in re.split(rf"(?:{_SEP}|[()])+", raw) if g]
        # 0X-XXXX-XXXX style or an unbroken 0X0XXXXXXXX mobile/landline
        if len(groups) == 3 or (
            len(groups) == 1 and (n == 11 and digits[1] in "5789" and digits[2] == "0" or n == 10)
        ):
            return "PHONE"
    return None


def _replace(
    pattern: re.Pattern[str], kind: str, text: str, counts: Counter[str], accept: object = None
) -> str:
    def sub(m: re.Match[str]) -> str:
        if callable(accept) and not accept(m.group(0)):
            return m.group(0)
        counts[kind] += 1
        return f"[{kind}]"

    return pattern.sub(sub, text)


def _ipv4_ok(s: str) -> bool:
    try:
        ipaddress.IPv4Address(s)
    except ValueError:
        return False
    return True


def _ipv6_ok(s: str) -> bool:
    if s.count(":") < 2:
        return False
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True


def mask(text: str) -> Masked:
    """The text with each PII span replaced by its kind, and how many of each were found."""
    counts: Counter[str] = Counter()
    out = text
    for pat in _TOKENS:
        out = _replace(pat, "SECRET", out, counts)

    def key_value(m: re.Match[str]) -> str:
        counts["SECRET"] += 1
        return m.group(1) + "[SECRET]"

    out = _KEY_VALUE.sub(key_value, out)
    out = _replace(_EMAIL, "EMAIL", out, counts)
    out = _replace(_IPV4, "IP", out, counts, _ipv4_ok)
    out = _replace(_IPV6, "IP", out, counts, _ipv6_ok)

    def number(m: re.Match[str]) -> str:
        raw = m.group(0)
        kind = _classify_number(raw.strip())
        if kind is None:
            return raw
        counts[kind] += 1
        if raw.startswith("(") and raw.count("(") > raw.count(")"):
            return f"([{kind}]"  # the opening parenthesis was around the number, not part of it
        return f"[{kind}]"

    out = _DIGITS.sub(number, out)
    return Masked(out, dict(counts))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
