"""Rationales from templates/rationale/<lang>.j2: the policy reason for a verdict, in the asker's language.

Only the verdict, category, domain and numbers go into the template — never the user's text.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2

from runtime.base import SAFETY_THRESHOLD
from templates import TEMPLATES_DIR


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def render_rationale(
    verdict: str,
    category: str,
    lang: str,
    *,
    reason: str = "model",
    domain: str | None = None,
    confidence: float = 1.0,
    threshold: float = SAFETY_THRESHOLD,
) -> str:
    lang = lang if lang in ("ja", "en") else "en"
    return (
        _env()
        .get_template(f"rationale/{lang}.j2")
        .render(
            verdict=verdict,
            category=category,
            reason=reason,
            domain=domain or "compliance",
            confidence=confidence,
            threshold=threshold,
        )
        .strip()
    )
