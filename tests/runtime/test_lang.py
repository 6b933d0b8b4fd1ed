import pytest

from runtime.lang import detect_lang


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("How do I reverse a list in Python?", "en"),
        ("Pythonでリストを逆順にする方法", "ja"),
        ("このPRのreviewお願い", "ja"),
        ("上司", "ja"),
        ("", "en"),
        ("print('漢') in my code does not work, why?", "en"),
    ],
)
def test_detect_lang(text: str, lang: str) -> None:
    assert detect_lang(text) == lang
