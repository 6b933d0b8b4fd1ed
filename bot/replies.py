"""Reply texts from Jinja2 templates in templates/bot/<name>.<lang>.j2 (ja and en).

Chat replies are plain text (platforms escape on display); HTML templates are autoescaped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "bot"
LANGS = ("en", "ja")
# the reviewers' domains as a Japanese reader names them (English uses the domain's own name)
DOMAIN_NAMES_JA = {
    "legal": "法務",
    "medical": "産業保健",
    "hr": "人事",
    "privacy": "個人情報保護",
    "compliance": "コンプライアンス",
    "support": "サポート",
    "triage": "振り分け",
}


def domain_ja(domain: str) -> str:
    """A domain's Japanese name (the domain itself when it has none: an admin's own domain)."""
    return DOMAIN_NAMES_JA.get(domain, domain)


class Replies:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            autoescape=select_autoescape(enabled_extensions=("html", "htm"), default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )
        self.env.filters["domain_ja"] = domain_ja

    def render(self, name: str, lang: str, **ctx: Any) -> str:
        lang = lang if lang in LANGS else "en"
        return self.env.get_template(f"{name}.{lang}.j2").render(**ctx).strip()
