"""Headless Debian chromium for browser tests (driven by playwright; a browser is never downloaded).

Japanese text: the dev extra installs Noto Sans CJK JP (PyPI `noto-cjk-sans-jp-regular`, SIL OFL). The browser
is launched with `env=browser_env()`, whose FONTCONFIG_FILE adds the package's font directory to the system's
fonts, so screenshots show glyphs rather than boxes on a machine without a CJK font."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium)"
)

CJK_FONT_DIST = "noto-cjk-sans-jp-regular"
CJK_FONT_FAMILY = "Noto Sans CJK JP"
SYSTEM_FONTS_CONF = "/etc/fonts/fonts.conf"


def cjk_font_dir() -> Path | None:
    """The directory holding the installed package's font file (found through its record), or None."""
    try:
        dist = metadata.distribution(CJK_FONT_DIST)
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if f.suffix.lower() in (".otf", ".ttf", ".ttc"):
            font = Path(str(dist.locate_file(f))).resolve()
            if font.is_file():
                return font.parent
    return None


needs_cjk_font = pytest.mark.skipif(
    cjk_font_dir() is None, reason=f"needs the dev extra's {CJK_FONT_DIST} (pip install -e '.[dev]')"
)


def fontconfig_xml(font_dir: Path, cache_dir: Path) -> str:
    return (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        "<fontconfig>\n"
        f"  <dir>{escape(str(font_dir))}</dir>\n"
        f"  <cachedir>{escape(str(cache_dir))}</cachedir>\n"
        f'  <include ignore_missing="yes">{SYSTEM_FONTS_CONF}</include>\n'
        "</fontconfig>\n"
    )


@functools.cache
def _fontconfig_file() -> str | None:
    """Written once per test session into a temporary directory (removed at exit)."""
    font_dir = cjk_font_dir()
    if font_dir is None:
        return None
    tmp = Path(tempfile.mkdtemp(prefix="so8t-fontconfig-"))
    atexit.register(shutil.rmtree, tmp, True)
    conf = tmp / "fonts.conf"
    conf.write_text(fontconfig_xml(font_dir, tmp / "cache"), encoding="utf-8")
    return str(conf)


def browser_env() -> dict[str, str | float | bool]:
    """The environment for the browser process (playwright's `env`): this one, plus FONTCONFIG_FILE when the CJK
    font is installed."""
    env: dict[str, str | float | bool] = dict(os.environ)
    conf = _fontconfig_file()
    if conf is not None:
        env["FONTCONFIG_FILE"] = conf
    return env
