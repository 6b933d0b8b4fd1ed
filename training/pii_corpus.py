"""A seeded, property-style PII corpus and the rates `bot.pii` reaches on it (`so8t pii-check`).

For each kind (phone, card, My Number, e-mail, address, IP, secret, bank account) and each language
(ja, en) the generator builds positives, a PII value in a realistic sentence with random punctuation,
brackets or quotes around it, full-width variants and different separators, and near-miss negatives
(dates, times, order and invoice numbers, prices, versions, ISBNs and JAN codes, Luhn-failing card
numbers, 12-digit numbers with a wrong check digit, hashes, codes without context). Positive values
come from the formats people write, never from the recogniser itself.

A positive counts as detected when every letter, digit and kanji of its value is inside a masked
span and one of those spans has the expected kind; a negative is a false positive when masking
changes it at all. The same seed always gives the same corpus.
"""

from __future__ import annotations

import ipaddress
import random
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bot.pii import Span, detect

LANGS = ("ja", "en")
KINDS = ("PHONE", "CARD", "MYNUMBER", "EMAIL", "ADDRESS", "IP", "SECRET", "BANK")
DETECTION_TARGET = 0.99
FP_TARGET = 0.01

_OPEN, _CLOSE = "\x01", "\x02"  # markers around the PII inside a generated text, removed at the end
_FULL = str.maketrans(
    string.digits + string.ascii_uppercase + string.ascii_lowercase + "-@.+:()/",
    "０１２３４５６７８９"
    + "".join(chr(0xFF21 + i) for i in range(26))
    + "".join(chr(0xFF41 + i) for i in range(26))
    + "－＠．＋：（）／",
)


@dataclass(frozen=True)
class Sample:
    kind: str
    lang: str
    text: str
    targets: tuple[tuple[int, int], ...]  # spans that must be masked; empty for a negative

    @property
    def positive(self) -> bool:
        return bool(self.targets)


@dataclass(frozen=True)
class Rates:
    kind: str
    lang: str
    positives: int
    detected: int
    negatives: int
    false_positives: int

    @property
    def detection(self) -> float:
        return self.detected / self.positives if self.positives else 1.0

    @property
    def fp_rate(self) -> float:
        return self.false_positives / self.negatives if self.negatives else 0.0

    @property
    def ok(self) -> bool:
        return self.detection >= DETECTION_TARGET and self.fp_rate <= FP_TARGET

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "detection": round(self.detection, 4), "fp_rate": round(self.fp_rate, 4)}


# --- helpers ----------------------------------------------------------------------------------------


def _pii(value: str) -> str:
    return f"{_OPEN}{value}{_CLOSE}"


def _digits(rng: random.Random, n: int, first: str = string.digits) -> str:
    return rng.choice(first) + "".join(rng.choice(string.digits) for _ in range(n - 1)) if n else ""


def _group(digits: str, sizes: Sequence[int], sep: str) -> str:
    out, i = [], 0
    for size in sizes:
        out.append(digits[i : i + size])
        i += size
    return sep.join(out)


def _full_width(rng: random.Random, value: str, p: float) -> str:
    return value.translate(_FULL) if rng.random() < p else value


def _luhn_complete(body: str) -> str:
    for d in string.digits:
        total = 0
        for i, ch in enumerate(reversed(body + d)):
            k = int(ch) * (2 if i % 2 else 1)
            total += k - 9 if k > 9 else k
        if total % 10 == 0:
            return body + d
    raise AssertionError("unreachable")


def _my_number_check(body: str) -> str:
    s = sum(int(body[11 - n]) * (n + 1 if n <= 6 else n - 5) for n in range(1, 12))
    r = s % 11
    return str(0 if r <= 1 else 11 - r)


def _iban(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in rearranged)) % 97
    return f"{country}{check:02d}{bban}"


def _aba(rng: random.Random) -> str:
    body = _digits(rng, 8, "0123")
    for d in string.digits:
        digits = body + d
        if sum(int(c) * w for c, w in zip(digits, (3, 7, 1) * 3, strict=True)) % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def _wrap(rng: random.Random, lang: str, value: str) -> str:
    """Brackets, quotes and punctuation around a value, as people type them."""
    if lang == "ja":
        pairs = [("", "")] * 6 + [("「", "」"), ("『", "』"), ("（", "）"), ("(", ")"), ("【", "】"), ("“", "”")]
        before = ["", "", "", "：", ":", " ", "\u3000", "…", "→"]
        after = ["", "", "。", "、", "！", "？", "）", ".", ",", "…", "です。", "まで。"]
    else:
        pairs = [("", "")] * 6 + [("(", ")"), ('"', '"'), ("'", "'"), ("[", "]"), ("<", ">"), ("“", "”")]
        before = ["", "", "", ": ", ":", " ", "...", "-> "]
        after = ["", "", ".", ",", ";", ":", "!", "?", ")", "...", ". Thanks!", ", ok?"]
    o, c = rng.choice(pairs)
    return f"{rng.choice(before)}{o}{value}{c}{rng.choice(after)}"


def _finish(kind: str, lang: str, text: str) -> Sample:
    out: list[str] = []
    targets: list[tuple[int, int]] = []
    start = 0
    for ch in text:
        if ch == _OPEN:
            start = len(out)
        elif ch == _CLOSE:
            targets.append((start, len(out)))
        else:
            out.append(ch)
    return Sample(kind, lang, "".join(out), tuple(targets))


# --- positives --------------------------------------------------------------------------------------

_JA_AREAS = [
    ("03", 4),
    ("06", 4),
    ("011", 3),
    ("022", 3),
    ("045", 3),
    ("052", 3),
    ("075", 3),
    ("078", 3),
    ("092", 3),
    ("099", 3),
    ("0466", 2),
    ("0985", 2),
    ("0258", 2),
]
_US_AREAS = ["201", "202", "206", "212", "213", "214", "305", "310", "312", "404", "408", "415",
             "503", "512", "617", "646", "702", "713", "718", "773", "805", "858", "917", "919"]  # fmt: skip


def _phone_ja_style(rng: random.Random) -> str:
    sep = rng.choice(["-", "-", "-", " ", "", "－", "ー", "‐"])
    kind = rng.randrange(6)
    if kind <= 1:
        digits = rng.choice(["090", "080", "070"]) + _digits(rng, 8, "123456789")
        return _group(digits, (3, 4, 4), sep)
    if kind == 2:
        area, mid = rng.choice(_JA_AREAS)
        local = _digits(rng, mid, "23456789") + _digits(rng, 4)
        if rng.random() < 0.2:
            return f"{area}({local[:mid]}){local[mid:]}"
        return sep.join([area, local[:mid], local[mid:]])
    if kind == 3:
        prefix, sizes = rng.choice([("0120", (3, 3)), ("0800", (3, 4)), ("0570", (3, 3)), ("050", (4, 4))])
        rest = _digits(rng, sum(sizes), "123456789")
        return sep.join([prefix, rest[: sizes[0]], rest[sizes[0] :]])
    if kind == 4:
        digits = rng.choice(["90", "80", "70"]) + _digits(rng, 8, "123456789")
        return rng.choice(
            [
                f"+81 {_group(digits, (2, 4, 4), ' ')}",
                f"+81-{_group(digits, (2, 4, 4), '-')}",
                f"+81 (0){_group(digits, (2, 4, 4), ' ')}",
                f"+81{digits}",
            ]
        )
    area, mid = rng.choice(_JA_AREAS)
    local = _digits(rng, mid, "23456789") + _digits(rng, 4)
    return f"+81-{area[1:]}-{local[:mid]}-{local[mid:]}"


def _phone_en_style(rng: random.Random, context: bool) -> str:
    kind = rng.randrange(7)
    area = rng.choice(_US_AREAS)
    exchange = _digits(rng, 3, "23456789")
    line = _digits(rng, 4)
    if kind <= 2:
        formats = [
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"+1 {area} {exchange} {line}",
            f"+1-{area}-{exchange}-{line}",
            f"1-800-{exchange}-{line}",
            f"+1 ({area}) {exchange}-{line}",
        ]
        if context:
            formats.append(f"{area}{exchange}{line}")
        return rng.choice(formats)
    if kind == 3:
        london = "7" + _digits(rng, 7)
        mobile = "7" + rng.choice("12345789") + _digits(rng, 8)
        return rng.choice(
            [
                f"+44 20 {london[:4]} {london[4:]}",
                f"020 {london[:4]} {london[4:]}",
                f"+44 {mobile[:4]} {mobile[4:]}",
                f"0{mobile[:4]} {mobile[4:]}",
            ]
        )
    if kind == 4:
        return rng.choice(
            [
                f"+33 1 {_group(_digits(rng, 8, '23456789'), (2, 2, 2, 2), ' ')}",
                f"+49 30 {_digits(rng, 7, '23456789')}",
                f"+61 2 {_group(_digits(rng, 8, '89'), (4, 4), ' ')}",
                f"+82 10-{_group(_digits(rng, 8, '23456789'), (4, 4), '-')}",
                f"+86 138 {_group(_digits(rng, 8), (4, 4), ' ')}",
            ]
        )
    return _phone_ja_style(rng)


_JA_PHONE_T = [
    "電話番号は{}です。",
    "携帯{}にかけてください",
    "TEL{}",
    "お問い合わせ先{}",
    "折り返しは{}へ",
    "連絡先→{}",
    "{}から着信がありました",
    "電話{}まで",
    "担当：佐藤 {} 内線なし",
    "夜間は{}に連絡",
]
_EN_PHONE_T = [
    "Call me at {}",
    "My phone number is {}",
    "You can reach the desk on {}",
    "Tel{}",
    "Mobile {} (after 6pm)",
    "Contact {} for access",
    "Text {} when you land",
    "Fax{} is broken",
    "Our office number {} is listed",
    "He left {} on the form",
]


def _phone(rng: random.Random, lang: str) -> str:
    template = rng.choice(_JA_PHONE_T if lang == "ja" else _EN_PHONE_T)
    context = any(w in template.lower() for w in ("call", "phone", "reach", "tel", "mobile", "contact", "text", "fax"))
    value = _phone_ja_style(rng) if lang == "ja" else _phone_en_style(rng, context)
    value = _full_width(rng, value, 0.35 if lang == "ja" else 0.08)
    return template.format(_wrap(rng, lang, _pii(value)))


_CARD_BRANDS: list[tuple[str, int]] = [
    ("4", 16),
    ("51", 16),
    ("52", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("3528", 16),
    ("3589", 16),
    ("36", 14),
    ("6011", 16),
    ("65", 16),
    ("62", 16),
    ("62", 19),
]


def _card_number(rng: random.Random) -> str:
    prefix, n = rng.choice(_CARD_BRANDS)
    return _luhn_complete(prefix + _digits(rng, n - len(prefix) - 1))


def _card_format(rng: random.Random, digits: str) -> str:
    sep = rng.choice(["", " ", " ", "-", "-", "－", "\u3000"])
    n = len(digits)
    sizes = {15: (4, 6, 5), 14: (4, 6, 4), 19: (4, 4, 4, 4, 3)}.get(n, (4, 4, 4, 4))
    return _group(digits, sizes, sep) if sep else digits


_JA_CARD_T = [
    "カード番号は{}です",
    "クレジットカード{}、有効期限12/27",
    "決済に使ったカード：{}",
    "{}で支払いました",
    "カード番号{}（セキュリティコード別送）",
    "このカード{}を止めてください",
]
_EN_CARD_T = [
    "Card {}, exp 12/27",
    "My card number is {}",
    "Charge it to {} please",
    "Card:{}",
    "the Visa ending ... actually the full number is {}",
    "Please cancel card {} today",
]


def _card(rng: random.Random, lang: str) -> str:
    value = _card_format(rng, _card_number(rng))
    value = _full_width(rng, value, 0.35 if lang == "ja" else 0.08)
    return rng.choice(_JA_CARD_T if lang == "ja" else _EN_CARD_T).format(_wrap(rng, lang, _pii(value)))


def _my_number_value(rng: random.Random) -> str:
    body = _digits(rng, 11)
    return body + _my_number_check(body)


_JA_MYNUMBER_T = [
    "マイナンバーは{}です",
    "個人番号{}を記入しました",
    "私のマイナンバー：{}",
    "{}が個人番号です",
    "マイナンバー（{}）を提出",
]
_EN_MYNUMBER_T = [
    "My Number: {}",
    "my individual number is {}",
    "Her My Number {} was on the form",
    "the number {} is my My Number",
    "Please register My Number {} for payroll",
]


def _my_number(rng: random.Random, lang: str) -> str:
    digits = _my_number_value(rng)
    sep = rng.choice(["", "", " ", "-", "－"])
    value = _group(digits, (4, 4, 4), sep) if sep else digits
    value = _full_width(rng, value, 0.4 if lang == "ja" else 0.08)
    return rng.choice(_JA_MYNUMBER_T if lang == "ja" else _EN_MYNUMBER_T).format(_wrap(rng, lang, _pii(value)))


_LOCALS = [
    "taro.yamada",
    "hanako+hr",
    "j.smith",
    "info",
    "user_01",
    "K.Tanaka",
    "sato-ichiro",
    "a.b.c",
    "mika99",
    "support",
    "o.neil",
]
_DOMAINS = [
    "example.co.jp",
    "mail.example.com",
    "corp.example.org",
    "gmail.com",
    "docomo.ne.jp",
    "univ.ac.jp",
    "example.io",
    "sub.dept.example.net",
    "EXAMPLE.COM",
]
_JA_EMAIL_T = ["メールは{}まで", "連絡先{}", "{}に送ってください", "担当者のアドレス：{}", "CCに{}を入れて"]
_EN_EMAIL_T = ["mail me at {}", "Contact:{}", "send it to {} please", "cc {} on the thread", "her address is {}"]


def _email(rng: random.Random, lang: str) -> str:
    local = rng.choice(_LOCALS) + rng.choice(["", "", str(rng.randrange(100))])
    value = _full_width(rng, f"{local}@{rng.choice(_DOMAINS)}", 0.25 if lang == "ja" else 0.05)
    return rng.choice(_JA_EMAIL_T if lang == "ja" else _EN_EMAIL_T).format(_wrap(rng, lang, _pii(value)))


_JA_PLACES = [
    ("東京都", "渋谷区"),
    ("東京都", "千代田区"),
    ("東京都", "新宿区"),
    ("東京都", "港区"),
    ("神奈川県", "横浜市中区"),
    ("大阪府", "大阪市北区"),
    ("愛知県", "名古屋市中村区"),
    ("北海道", "札幌市中央区"),
    ("福岡県", "福岡市博多区"),
    ("京都府", "京都市中京区"),
    ("埼玉県", "さいたま市浦和区"),
    ("千葉県", "千葉市美浜区"),
    ("兵庫県", "神戸市中央区"),
    ("宮城県", "仙台市青葉区"),
    ("広島県", "広島市中区"),
    ("茨城県", "つくば市"),
    ("東京都", "西多摩郡瑞穂町"),
    ("長野県", "北佐久郡軽井沢町"),
    ("沖縄県", "那覇市"),
]
_JA_TOWNS = [
    "道玄坂",
    "丸の内",
    "西新宿",
    "六本木",
    "霞が関",
    "梅田",
    "栄",
    "天神",
    "大通西",
    "高砂",
    "中瀬",
    "本町",
    "虎ノ門",
    "市ヶ谷",
    "南町",
    "旭町",
    "若葉",
    "桜木町",
    "北1条西",
]
_JA_BUILDINGS = ["渋谷ビル5F", "サンシャインマンション101号室", "第2ビル 3階", "ABCタワー12F", "コーポ田中203号室"]


def _ja_block(rng: random.Random, strict: bool) -> str:
    a, b, c = rng.randrange(1, 10), rng.randrange(1, 40), rng.randrange(1, 30)
    forms = [
        f"{a}-{b}-{c}",
        f"{a}丁目{b}番{c}号",
        f"{a}丁目{b}-{c}",
        f"{rng.randrange(1, 2000)}番地",
        f"{rng.randrange(1, 2000)}番地{c}",
        f"{'一二三四五六七八九'[a - 1]}丁目{b}番{c}号",
        f"{b}番{c}号",
    ]
    if not strict:
        forms.append(f"{rng.randrange(1, 2000)}-{c}")
    return rng.choice(forms)


def _ja_address_value(rng: random.Random) -> str:
    pref, city = rng.choice(_JA_PLACES)
    with_pref = rng.random() < 0.7
    zip_code = f"〒{_digits(rng, 3)}-{_digits(rng, 4)} " if rng.random() < 0.35 else ""
    space = rng.choice(["", "", "", " "])
    parts = [
        zip_code + (pref + space if with_pref else ""),
        city,
        space,
        rng.choice(_JA_TOWNS),
        _ja_block(rng, strict=not (with_pref or zip_code)),
    ]
    if rng.random() < 0.3:
        parts.append(rng.choice([" ", ""]) + rng.choice(_JA_BUILDINGS))
    return "".join(parts)


_EN_STREETS = [
    "Baker",
    "Main",
    "Oak",
    "Maple",
    "Amphitheatre",
    "Elm",
    "Washington",
    "Park",
    "Lake",
    "High",
    "Church",
    "Station",
    "Victoria",
    "King",
    "Queen",
    "Market",
    "5th",
    "42nd",
    "Pine Hill",
    "Old Mill",
    "Martin Luther King Jr",
]
_EN_SUFFIXES = [
    "Street",
    "St",
    "St.",
    "Avenue",
    "Ave",
    "Road",
    "Rd.",
    "Boulevard",
    "Blvd",
    "Lane",
    "Drive",
    "Dr",
    "Court",
    "Place",
    "Parkway",
    "Way",
    "Terrace",
    "Close",
    "Crescent",
    "Square",
    "Highway",
]
_US_CITIES = [
    ("Mountain View", "CA"),
    ("Springfield", "IL"),
    ("New York", "NY"),
    ("Seattle", "WA"),
    ("Austin", "TX"),
    ("Boston", "MA"),
    ("Palo Alto", "CA"),
]
_UK_CITIES = ["London", "Manchester", "Leeds", "Bristol", "Edinburgh"]


def _en_address_value(rng: random.Random) -> str:
    number = str(rng.randrange(1, 9999)) + (rng.choice("ABC") if rng.random() < 0.15 else "")
    direction = rng.choice(["", "", "", "", "N ", "W. ", "North "])
    street = f"{number} {direction}{rng.choice(_EN_STREETS)} {rng.choice(_EN_SUFFIXES)}"
    apt = f", Apt {rng.randrange(1, 40)}{rng.choice('ABC')}"
    unit = rng.choice(
        [
            "",
            "",
            "",
            apt,
            f" Suite {rng.randrange(100, 999)}",
            f", Unit {rng.randrange(1, 99)}",
            f" #{rng.randrange(1, 999)}",
        ]
    )
    tail = rng.randrange(4)
    if tail == 0:
        return street + unit
    if tail == 1:
        city, state = rng.choice(_US_CITIES)
        return f"{street}{unit}, {city}, {state} {_digits(rng, 5, '123456789')}"
    if tail == 2:
        area = rng.choice(["NW1", "SW1A", "EC2R", "M1", "LS1", "BS8", "EH1"])
        inward = f"{rng.randrange(1, 10)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTUWXYZ')}"
        return f"{street}{unit}, {rng.choice(_UK_CITIES)} {area} {inward}"
    return f"{street}{unit}, {rng.choice(_UK_CITIES)}"


_JA_ADDRESS_T = ["住所は{}です", "配送先：{}", "{}に住んでいます", "本社{}", "請求書の送付先{}宛てでお願いします"]
_EN_ADDRESS_T = ["I live at {}", "Ship it to {}", "Our office moved to {}", "Address:{}", "the party is at {} tonight"]


def _address(rng: random.Random, lang: str) -> str:
    if lang == "ja":
        value = _full_width(rng, _ja_address_value(rng), 0.4)
        return rng.choice(_JA_ADDRESS_T).format(_wrap(rng, lang, _pii(value)))
    return rng.choice(_EN_ADDRESS_T).format(_wrap(rng, lang, _pii(_en_address_value(rng))))


def _ip_value(rng: random.Random) -> str:
    if rng.random() < 0.7:
        first = rng.choice([10, 172, 192, 203, 8, 52, 133, rng.randrange(1, 127), rng.randrange(128, 224)])
        return ".".join(str(x) for x in [first, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])
    groups = [rng.choice(["2001", "2404", "fe80", "2400"]), format(rng.randrange(65536), "x")]
    groups += [format(rng.randrange(65536), "x") for _ in range(6)]
    if rng.random() < 0.6:  # a run of zero groups, written "::"
        cut = rng.randrange(2, 6)
        groups[cut : cut + rng.randrange(2, 4)] = ["0", "0"]
        groups = (groups + ["0"] * 8)[:8]
        return str(ipaddress.IPv6Address(":".join(groups)))
    return ":".join(groups)


_JA_IP_T = [
    "サーバー{}に接続できません",
    "IPアドレスは{}です",
    "{}からのアクセスを遮断",
    "接続元：{}",
    "{}のポート8080で起動中",
]
_EN_IP_T = ["server {} is down", "blocked requests from {}", "the host resolves to {}", "IP:{}", "ssh into {} first"]


def _ip(rng: random.Random, lang: str) -> str:
    value = _full_width(rng, _ip_value(rng), 0.2 if lang == "ja" else 0.03)
    return rng.choice(_JA_IP_T if lang == "ja" else _EN_IP_T).format(_wrap(rng, lang, _pii(value)))


def _alnum(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    out = "".join(rng.choice(alphabet) for _ in range(n - 2))
    return rng.choice(string.ascii_letters) + out + rng.choice(string.digits)


def _secret(rng: random.Random, lang: str) -> str:
    kind = rng.randrange(9)
    if kind == 0:
        text = f"{rng.choice(['sk-', 'sk-proj-', 'pk-live-'])}{_alnum(rng, rng.randrange(24, 48))}"
        value = _pii(text)
    elif kind == 1:
        value = _pii(f"ghp_{_alnum(rng, 36)}")
    elif kind == 2:
        value = _pii(f"xoxb-{_digits(rng, 11)}-{_digits(rng, 12)}-{_alnum(rng, 24)}")
    elif kind == 3:
        value = _pii("AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)))
    elif kind == 4:
        value = _pii(f"AIza{_alnum(rng, 35, string.ascii_letters + string.digits + '_-')}")
    elif kind == 5:
        value = _pii(f"eyJ{_alnum(rng, 20)}.eyJ{_alnum(rng, 30)}.{_alnum(rng, 43)}")
    elif kind == 6:
        value = "Authorization: Bearer " + _pii(_alnum(rng, rng.randrange(24, 40)))
    elif kind == 7:
        key = rng.choice(["api_key=", "API_KEY: ", "secret=", "token: ", "password=", '"apiKey": "'])
        value = key + _pii(_alnum(rng, rng.randrange(16, 32)))
    else:
        key = rng.choice(["パスワード：", "パスワード: ", "トークン=", "password: "])
        value = key + _pii(_alnum(rng, rng.randrange(16, 28)))
    if lang == "ja":
        template = rng.choice(
            ["設定ファイルに{}が残っていました", "これがキーです {}", "誤って{}を貼ってしまった", "{}"]
        )
    else:
        template = rng.choice(["oops, I pasted {} in the channel", "the config has {}", "{}", "is this key valid? {}"])
    return template.format(_wrap(rng, lang, value))


_JA_BANKS = ["三菱UFJ", "みずほ", "三井住友", "りそな", "横浜", "千葉", "楽天", "住信SBIネット"]
_JA_BRANCHES = ["渋谷", "新宿", "本店営業部", "梅田", "横浜駅前", "第一営業"]


def _bank(rng: random.Random, lang: str) -> str:
    if lang == "ja":
        account = _full_width(rng, _digits(rng, 7), 0.35)
        kind = rng.randrange(6)
        bank, branch = rng.choice(_JA_BANKS), rng.choice(_JA_BRANCHES)
        if kind == 0:
            text = f"振込先は{bank}銀行 {branch}支店 普通 {_pii(account)}です"
        elif kind == 1:
            text = f"口座番号{_wrap(rng, lang, _pii(account))}に振り込んでください"
        elif kind == 2:
            text = f"{bank}銀行{branch}支店（店番{_digits(rng, 3)}）当座預金 {_pii(account)}"
        elif kind == 3:
            text = f"支店番号{_digits(rng, 3)} 口座番号：{_pii(account)}"
        elif kind == 4:
            text = f"口座番号は{_pii(_digits(rng, 3) + rng.choice(['-', '－']) + account)}です"
        else:
            mark, number = _digits(rng, 5, "1"), _digits(rng, 8)
            text = f"ゆうちょ銀行 記号{_pii(mark)} 番号{_pii(number)}"
        return text
    kind = rng.randrange(4)
    if kind <= 1:
        country = rng.choice(["GB", "DE", "FR", "NL", "ES", "IT", "CH", "BE", "IE", "AT"])
        length = {"GB": 22, "DE": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27, "CH": 21, "BE": 16, "IE": 22, "AT": 20}[
            country
        ]
        letters = 4 if country in ("GB", "NL", "IE") else 0
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(letters)) + _digits(rng, length - 4 - letters)
        iban = _iban(country, bban)
        value = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.6 else iban
        return rng.choice(["IBAN: {}", "please wire it to {}", "my IBAN is {}", "Bank account {} (EUR)"]).format(
            _wrap(rng, lang, _pii(value))
        )
    if kind == 2:
        sort = f"{_digits(rng, 2)}-{_digits(rng, 2)}-{_digits(rng, 2)}"
        return f"account number {_pii(_digits(rng, 8))}, sort code {_pii(sort)}{rng.choice(['', '.', ' please'])}"
    return f"routing number {_pii(_aba(rng))} and account #{_pii(_digits(rng, rng.randrange(8, 12)))}"


_POSITIVES: dict[str, Callable[[random.Random, str], str]] = {
    "PHONE": _phone,
    "CARD": _card,
    "MYNUMBER": _my_number,
    "EMAIL": _email,
    "ADDRESS": _address,
    "IP": _ip,
    "SECRET": _secret,
    "BANK": _bank,
}

# --- negatives --------------------------------------------------------------------------------------


def _date(rng: random.Random) -> str:
    y, m, d = rng.randrange(1990, 2031), rng.randrange(1, 13), rng.randrange(1, 29)
    return rng.choice([f"{y}-{m:02d}-{d:02d}", f"{y}/{m}/{d}", f"{y}.{m:02d}.{d:02d}", f"{y}年{m}月{d}日"])


def _time(rng: random.Random) -> str:
    return rng.choice(
        [
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}",
            f"{rng.randrange(24)}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
        ]
    )


def _price(rng: random.Random, lang: str) -> str:
    n = rng.randrange(100, 99_999_999)
    if lang == "ja":
        return rng.choice([f"¥{n:,}", f"{n:,}円", f"{n}円", f"税込{n:,}円"])
    return rng.choice([f"${n / 100:,.2f}", f"USD {n:,}", f"€{n / 100:.2f}", f"{n:,} yen"])


def _version(rng: random.Random) -> str:
    a, b, c = rng.randrange(10), rng.randrange(30), rng.randrange(50)
    return rng.choice([f"{a}.{b}.{c}", f"v{a}.{b}.{c}", f"{a}.{b}.{c}-rc.{rng.randrange(5)}", f"{a}.{b}"])


def _bad_luhn(rng: random.Random) -> str:
    good = _card_number(rng)
    bad = good[:-1] + str((int(good[-1]) + rng.randrange(1, 10)) % 10)
    return _card_format(rng, bad)


def _bad_my_number(rng: random.Random) -> str:
    good = _my_number_value(rng)
    bad = good[:-1] + str((int(good[-1]) + rng.randrange(1, 10)) % 10)
    sep = rng.choice(["", " ", "-"])
    return _group(bad, (4, 4, 4), sep) if sep else bad


def _isbn13(rng: random.Random) -> str:
    body = rng.choice(["978", "979"]) + _digits(rng, 9)
    s = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    full = body + str((10 - s % 10) % 10)
    return rng.choice([full, f"{full[:3]}-{full[3]}-{full[4:6]}-{full[6:12]}-{full[12]}"])


def _jan(rng: random.Random) -> str:
    body = rng.choice(["45", "49"]) + _digits(rng, 10)
    s = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    return body + str((10 - s % 10) % 10)


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _near_misses(rng: random.Random, kind: str, lang: str) -> str:
    """One near-miss for `kind`: text that looks like it and is not it."""
    ja = lang == "ja"
    if kind == "PHONE":
        score = f"{rng.randrange(10)}-{rng.randrange(10)}"
        options = [
            (f"会議は{_date(rng)} {_time(rng)}からです", f"the meeting is on {_date(rng)} at {_time(rng)}"),
            (f"{_time(rng)}-{_time(rng)}は不在です", f"I'm out {_time(rng)}-{_time(rng)}"),
            (
                f"注文番号{_digits(rng, 3, '1234')}-{_digits(rng, 7)}-{_digits(rng, 7)}",
                f"Order #{_digits(rng, 3, '1234')}-{_digits(rng, 7)}-{_digits(rng, 7)} shipped",
            ),
            (
                f"請求書番号 INV-{rng.randrange(2015, 2031)}-{_digits(rng, 6)}",
                f"invoice INV-{rng.randrange(2015, 2031)}-{_digits(rng, 6)} is overdue",
            ),
            (f"価格は{_price(rng, 'ja')}です", f"it costs {_price(rng, 'en')}"),
            (f"内線{_digits(rng, 4, '123456789')}番", f"ext. {_digits(rng, 4, '123456789')}"),
            (
                f"社員番号 {_digits(rng, rng.randrange(5, 9), '123456789')}",
                f"employee id {_digits(rng, rng.randrange(5, 9), '123456789')}",
            ),
            (
                f"{rng.randrange(2, 9)}-{rng.randrange(3, 20)}人で参加します",
                f"we expect {rng.randrange(2, 9)}-{rng.randrange(10, 40)} people",
            ),
            (f"在庫数{_digits(rng, 8, '123456789')}個", f"order number {_digits(rng, 10, '23456789')} is delayed"),
            (
                f"ISBN {_digits(rng, 1, '0')}-{_digits(rng, 3)}-{_digits(rng, 5)}-{_digits(rng, 1)}の本",
                f"ISBN {_digits(rng, 1, '0')}-{_digits(rng, 3)}-{_digits(rng, 5)}-{_digits(rng, 1)}",
            ),
            (f"バージョン{_version(rng)}で再現", f"reproduced on {_version(rng)}"),
            (f"試合は{score}で終了", f"the score was {score}"),
        ]
    elif kind == "CARD":
        member = _luhn_complete(_digits(rng, 15, "1789"))
        options = [
            (f"カード番号{_bad_luhn(rng)}は無効です", f"card {_bad_luhn(rng)} was declined (typo)"),
            (f"伝票番号{_bad_luhn(rng)}", f"tracking {_bad_luhn(rng)}"),
            (f"ISBN{_isbn13(rng)}の本を注文", f"ISBN {_isbn13(rng)}"),
            (f"JANコード{_jan(rng)}", f"barcode {_jan(rng)} scanned"),
            (
                f"タイムスタンプ{rng.randrange(1_500_000_000_000, 1_800_000_000_000)}",
                f"ts={rng.randrange(1_500_000_000_000, 1_800_000_000_000)}",
            ),
            (
                f"注文番号{_digits(rng, 3, '1234')}-{_digits(rng, 7)}-{_digits(rng, 7)}",
                f"order {_digits(rng, 3, '1234')}-{_digits(rng, 7)}-{_digits(rng, 7)}",
            ),
            (f"会員ID {member}", f"member id {member}"),
            (f"価格は{_price(rng, 'ja')}です", f"total {_price(rng, 'en')}"),
        ]
    elif kind == "MYNUMBER":
        stamp = f"{rng.randrange(1990, 2031)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        stamp += f"{rng.randrange(24):02d}{rng.randrange(60):02d}"
        options = [
            (f"マイナンバー{_bad_my_number(rng)}は誤りでした", f"{_bad_my_number(rng)} is not a valid My Number"),
            (f"番号{_bad_my_number(rng)}", f"reference {_bad_my_number(rng)}"),
            (f"ログ{stamp}に記録", f"logged at {stamp}"),
            (
                f"受付番号{_digits(rng, 3)}-{_digits(rng, 3)}-{_digits(rng, 6)}",
                f"ticket {_digits(rng, 3)}-{_digits(rng, 3)}-{_digits(rng, 6)}",
            ),
            (f"{_digits(rng, 11, '123456789')}件のログ", f"{_digits(rng, 11, '123456789')} rows scanned"),
            (f"{_date(rng)}に提出", f"filed on {_date(rng)}"),
        ]
    elif kind == "EMAIL":
        options = [
            ("user@localhost に送信", "user@localhost"),
            ("@here 確認お願いします", "@channel please review"),
            (f"npm i lodash@{_version(rng)}", f"pin requests@{_version(rng)}"),
            ("@types/node を追加", "add @types/node"),
            ("メールは example.com のドメインで", "the domain is example.com"),
            (
                f"単価は{rng.randrange(1, 99)}@{rng.randrange(100, 999)}円",
                f"{rng.randrange(1, 99)}@{rng.randrange(2, 9)}.5",
            ),
            ("foo@bar は無効なアドレス", "foo@bar is not an address"),
            (f"https://example.com/{_hex(rng, 8)} を参照", f"see https://example.com/{_hex(rng, 8)}"),
        ]
    elif kind == "IP":
        section = ".".join(str(rng.randrange(1, 9)) for _ in range(5))
        options = [
            (f"バージョン{_version(rng)}をインストール", f"upgrade to {_version(rng)}"),
            (
                f"バージョン{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(100)}",
                f"version {rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(100)}",
            ),
            (
                f"無効なIP {rng.randrange(256, 999)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
                f"invalid ip {rng.randrange(256, 999)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
            ),
            (f"{_time(rng)}に発生", f"it happened at {_time(rng)}"),
            (
                f"MACアドレス {':'.join(_hex(rng, 2) for _ in range(6))}",
                f"MAC {':'.join(_hex(rng, 2) for _ in range(6))}",
            ),
            (f"円周率は3.{_digits(rng, 6)}", f"pi is 3.{_digits(rng, 6)}"),
            (f"{_date(rng)}のリリース", f"released {_date(rng)}"),
            (f"OID 1.3.6.1.4.1.{rng.randrange(99999)}", f"OID 1.3.6.1.4.1.{rng.randrange(99999)}"),
            (f"第{section}節", f"see section {section}"),
        ]
    elif kind == "SECRET":
        options = [
            ("sk-learn をインストール", "sk-learn is a library"),
            ("token: abc", "token: abc"),
            ("password: short", "the password: hunter2"),
            ("api_key=YOUR_API_KEY_HERE と書いてある", "api_key=YOUR_API_KEY_HERE"),
            (f"コミット {_hex(rng, 40)} で修正", f"fixed in commit {_hex(rng, 40)}"),
            (f"sha256:{_hex(rng, 64)}", f"image digest sha256:{_hex(rng, 64)}"),
            (
                f"UUID {_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}",
                f"request id {_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}",
            ),
            (f"max_tokens: {rng.randrange(256, 8192)}", f"token_limit={rng.randrange(256, 8192)}"),
            ("Bearer トークンの期限切れ", "the Bearer token expired"),
        ]
    elif kind == "ADDRESS":
        pref, city = rng.choice(_JA_PLACES)
        pair = f"{rng.randrange(1, 9)}-{rng.randrange(1, 9)}"
        zip_code = f"{_digits(rng, 3)}-{_digits(rng, 4)}"
        options = [
            (f"〒{_digits(rng, 3)}-{_digits(rng, 4)} {pref}{city}", f"zip {_digits(rng, 5, '123456789')}"),
            (f"{pref}{city}で会議があります", f"I live on {rng.choice(_EN_STREETS)} Street"),
            (f"{city}の会議室{rng.randrange(1, 9)}-{rng.randrange(1, 9)}", f"Room {rng.randrange(100, 999)} is free"),
            (
                f"フォーメーションは{rng.randrange(3, 5)}-{rng.randrange(3, 5)}-{rng.randrange(1, 4)}",
                f"we played {rng.randrange(3, 5)}-{rng.randrange(3, 5)}-{rng.randrange(1, 4)}",
            ),
            (f"{city}内の{pair}件", f"Chapter {rng.randrange(1, 30)} of the report"),
            (f"郵便番号は{zip_code}です", f"postcode {rng.choice(['SW1A', 'M1', 'EC2R'])} 1AA"),
            (f"{_date(rng)}に{city}へ出張", f"Top {rng.randrange(3, 20)} Tips for Travel"),
            (
                f"第{rng.randrange(1, 9)}-{rng.randrange(1, 9)}-{rng.randrange(1, 9)}項を参照",
                f"Highway {rng.randrange(1, 500)} is closed",
            ),
        ]
    else:  # BANK
        good = _iban("DE", _digits(rng, 18))
        bad = good[:-1] + str((int(good[-1]) + rng.randrange(1, 10)) % 10)
        options = [
            (f"支店の営業時間は{_time(rng)}-{_time(rng)}です", f"the branch opens {_time(rng)}-{_time(rng)}"),
            (f"口座開設には{rng.randrange(2, 5)}-{rng.randrange(5, 10)}営業日", f"account balance {_price(rng, 'en')}"),
            ("普通預金の金利は0.001%です", "IBAN format is two letters and two digits"),
            (f"支店番号は{_digits(rng, 3)}です", f"account #{rng.randrange(1, 999)} of the ledger"),
            (f"口座残高は{_price(rng, 'ja')}", f"IBAN {bad} (typo)"),
            (f"請求書番号{_digits(rng, 7, '123456789')}", f"order {_digits(rng, 8, '123456789')} paid"),
        ]
    ja_text, en_text = rng.choice(options)
    text = ja_text if ja else en_text
    end = rng.choice(["", "", "。", "、", "！"] if ja else ["", "", ".", ",", "!"])
    return text + end


# --- corpus and rates -------------------------------------------------------------------------------


def generate(seed: int = 15, n_pos: int = 300, n_neg: int = 300) -> list[Sample]:
    """The corpus: n_pos positives and n_neg negatives per kind and language (deterministic)."""
    samples: list[Sample] = []
    for kind in KINDS:
        for lang in LANGS:
            rng = random.Random(f"{seed}:{kind}:{lang}")
            samples.extend(_finish(kind, lang, _POSITIVES[kind](rng, lang)) for _ in range(n_pos))
            samples.extend(Sample(kind, lang, _near_misses(rng, kind, lang), ()) for _ in range(n_neg))
    return samples


def detected(sample: Sample, spans: Sequence[Span]) -> bool:
    """Every letter, digit and kanji of each target is masked, one of its spans with the expected kind."""
    for a, b in sample.targets:
        covering = [s for s in spans if s.start < b and s.end > a]
        for i in range(a, b):
            if sample.text[i].isalnum() and not any(s.start <= i < s.end for s in covering):
                return False
        if not any(s.kind == sample.kind for s in covering):
            return False
    return True


def evaluate(samples: Iterable[Sample]) -> list[Rates]:
    """Detection and false-positive rates per kind and language, in KINDS x LANGS order."""
    tally: dict[tuple[str, str], list[int]] = {(k, lang): [0, 0, 0, 0] for k in KINDS for lang in LANGS}
    for sample in samples:
        spans = detect(sample.text)
        t = tally.setdefault((sample.kind, sample.lang), [0, 0, 0, 0])
        if sample.positive:
            t[0] += 1
            t[1] += detected(sample, spans)
        else:
            t[2] += 1
            t[3] += bool(spans)
    return [Rates(k, lang, *t) for (k, lang), t in tally.items()]


def misses(samples: Iterable[Sample]) -> list[tuple[Sample, str]]:
    """The positives not fully masked and the negatives changed, each with its masked text."""
    from bot.pii import mask

    out: list[tuple[Sample, str]] = []
    for sample in samples:
        spans = detect(sample.text)
        if (sample.positive and not detected(sample, spans)) or (not sample.positive and spans):
            out.append((sample, mask(sample.text).text))
    return out


def table(rates: Sequence[Rates]) -> str:
    """A Markdown table: per kind, ja/en detection and ja/en false-positive rates."""
    by = {(r.kind, r.lang): r for r in rates}
    kinds = [k for k in KINDS if any((k, lang) in by for lang in LANGS)]
    kinds += sorted({r.kind for r in rates} - set(kinds))

    def pct(r: Rates | None, what: str) -> str:
        if r is None:
            return "-"
        value, n = (r.detection, r.positives) if what == "det" else (r.fp_rate, r.negatives)
        return f"{value * 100:.1f}% (n={n})"

    lines = ["| kind | ja detection | en detection | ja FP | en FP |", "|---|---|---|---|---|"]
    for k in kinds:
        ja, en = by.get((k, "ja")), by.get((k, "en"))
        lines.append(f"| {k} | {pct(ja, 'det')} | {pct(en, 'det')} | {pct(ja, 'fp')} | {pct(en, 'fp')} |")
    return "\n".join(lines) + "\n"
