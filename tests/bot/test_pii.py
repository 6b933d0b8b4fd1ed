"""PII masking: positives and near-miss negatives, in English and Japanese."""

from __future__ import annotations

import pytest

from bot.pii import luhn_ok, mask, my_number_ok

POSITIVES = [
    ("mail me at taro.yamada@example.co.jp", "mail me at [EMAIL]", "EMAIL"),
    ("連絡先は hanako+hr@corp.example.com です", "連絡先は [EMAIL] です", "EMAIL"),
    ("call 03-1234-5678 today", "call [PHONE] today", "PHONE"),
    ("電話は090-1234-5678です", "電話は[PHONE]です", "PHONE"),
    ("携帯：０８０－１２３４－５６７８", "携帯：[PHONE]", "PHONE"),
    ("Tel: 0312345678", "Tel: [PHONE]", "PHONE"),
    ("電話番号は03(1234)5678", "電話番号は[PHONE]", "PHONE"),
    ("call +81 90 1234 5678", "call [PHONE]", "PHONE"),
    ("US office +1 (415) 555-2671", "US office [PHONE]", "PHONE"),
    ("card 4111 1111 1111 1111 exp 12/30", "card [CARD] exp 12/30", "CARD"),
    ("カード番号は5500-0000-0000-0004です", "カード番号は[CARD]です", "CARD"),
    ("マイナンバーは123456789018です", "マイナンバーは[MYNUMBER]です", "MYNUMBER"),
    ("my number 1234 5678 9018", "my number [MYNUMBER]", "MYNUMBER"),
    ("server 192.168.1.10 is down", "server [IP] is down", "IP"),
    ("サーバー10.0.0.1に接続できない", "サーバー[IP]に接続できない", "IP"),
    ("v6 host 2001:db8::ff00:42:8329 up", "v6 host [IP] up", "IP"),
    ("key sk-abcdefghijklmnopqrstuvwxyz123456 leaked", "key [SECRET] leaked", "SECRET"),
    ("slack xoxb-1234567890-abcdefghij", "slack [SECRET]", "SECRET"),
    ("gh token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh token [SECRET]", "SECRET"),
    ("aws AKIAIOSFODNN7EXAMPLE creds", "aws [SECRET] creds", "SECRET"),
    ("api_key=AbCdEf1234567890XyZ", "api_key=[SECRET]", "SECRET"),
    ("パスワード: hunter2hunter2hunter2X", "パスワード: [SECRET]", "SECRET"),
    ("Authorization: Bearer abcdef0123456789abcdef0123", "Authorization: Bearer [SECRET]", "SECRET"),
]

NEGATIVES = [
    "the meeting is on 2024-01-15 at 10:00",
    "会議は2024年1月15日 10:00-11:00です",
    "upgrade to version 1.2.3.4.5 first",
    "バージョン1.2.3をインストール",
    "order number 1234567890123",  # 13 digits, fails Luhn
    "card 4111 1111 1111 1112",  # Luhn fails
    "123456789012 is not a My Number",  # check digit fails
    "〒100-0001 東京都千代田区",
    "zip 100-0001",
    "price 1,234,567 yen",
    "invalid ip 999.1.1.1",
    "it happened at 12:30:45",
    "sk-learn is a library",
    "token: abc",
    "password: short",
    "user@localhost",
    "社員番号 12345",
    "ext. 1234",
    "内線は 1234 番",
    "3/4 of the team",
]


@pytest.mark.parametrize(("text", "expected", "kind"), POSITIVES)
def test_positives_are_masked(text: str, expected: str, kind: str) -> None:
    result = mask(text)
    assert result.text == expected
    assert result.counts.get(kind, 0) >= 1


@pytest.mark.parametrize("text", NEGATIVES)
def test_near_misses_are_kept(text: str) -> None:
    assert mask(text).text == text
    assert mask(text).counts == {}


def test_check_digits() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert my_number_ok("123456789018") and not my_number_ok("123456789012") and not my_number_ok("1234")


def test_several_kinds_in_one_message() -> None:
    r = mask("From a@b.io (090-1111-2222) at 172.16.0.5")
    assert r.text == "From [EMAIL] ([PHONE]) at [IP]"
    assert r.counts == {"EMAIL": 1, "PHONE": 1, "IP": 1}
