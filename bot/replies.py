"""Reply texts from Jinja2 templates in templates/bot/<name>.<lang>.j2 (ja and en).

Chat replies are plain text (platforms escape on display); HTML templates are autoescaped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "bot"
LANGS = ("en", "ja")


class Replies:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            autoescape=select_autoescape(enabled_extensions=("html", "htm"), default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )

    def render(self, name: str, lang: str, **ctx: Any) -> str:
        lang = lang if lang in LANGS else "en"
        return self.env.get_template(f"{name}.{lang}.j2").render(**ctx).strip()
