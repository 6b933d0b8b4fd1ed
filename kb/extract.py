"""Text out of the team's files: Markdown, plain text, HTML (stdlib html.parser) and PDF (pypdf).

Every file becomes an Extracted: a title, optional keywords (front matter / <meta>), and sections
(heading path + paragraphs). A file that cannot be read raises Unreadable with a one-line reason; the
indexer turns it into a warning and goes on. Document text never goes to a log.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm"})
SUFFIXES = TEXT_SUFFIXES | {".pdf"}
MAX_BYTES = 10 * 1024 * 1024  # a larger file is skipped with a warning (a dump, not a handbook page)


class Unreadable(Exception):
    """A file that is not indexed; str() is one line without any of its content."""


@dataclass
class Section:
    heading: tuple[str, ...]  # heading path below the document title, outermost first
    paragraphs: list[str] = field(default_factory=list)


@dataclass
class Extracted:
    title: str
    keywords: tuple[str, ...] = ()
    sections: list[Section] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return sum(len(p) for s in self.sections for p in s.paragraphs)


def extract(path: Path, data: bytes) -> Extracted:
    """The file's text; raises Unreadable (empty, binary, not UTF-8/Shift_JIS, broken PDF)."""
    suffix = path.suffix.lower()
    if not data.strip():
        raise Unreadable("empty file")
    if suffix == ".pdf":
        doc = _pdf(path, data)
    else:
        text = decode(data)
        if suffix in (".html", ".htm"):
            doc = _html(path, text)
        elif suffix in (".md", ".markdown"):
            doc = _markdown(path, text)
        else:
            doc = _plain(path, text)
    if doc.chars == 0:
        raise Unreadable("no text in it")
    return doc


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Shift_JIS (cp932, common for Japanese files); binary is refused."""
    head = data[:8192]
    if b"\x00" in head:
        raise Unreadable("binary file, not text")
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\n\r\f")
        if controls > len(text[:8192]) * 0.01:
            raise Unreadable("binary file, not text")
        return text
    raise Unreadable("not UTF-8 or Shift_JIS text")


def _stem_title(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip() or path.name


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """YAML between a leading `---` line and the next `---`/`...` line; ({}, text) when there is none."""
    if not text.startswith("---"):
        return {}, text
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return {}, text
    for i in range(1, min(len(lines), 200)):
        if lines[i].strip() in ("---", "..."):
            try:
                meta = yaml.safe_load("\n".join(lines[1:i]))
            except yaml.YAMLError:
                return {}, text
            return (meta if isinstance(meta, dict) else {}), "\n".join(lines[i + 1 :])
    return {}, text


def _keywords(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = re.split(r"[,、]", value)
    if not isinstance(value, list):
        return ()
    return tuple(str(v).strip() for v in value if str(v).strip())


def _markdown(path: Path, text: str) -> Extracted:
    meta, body = front_matter(text.replace("\r\n", "\n").replace("\r", "\n"))
    title = str(meta.get("title") or "").strip()
    sections: list[Section] = [Section(())]
    stack: list[tuple[int, str]] = []
    para: list[str] = []
    fenced = False

    def flush() -> None:
        if para:
            joined = "\n".join(para).strip()
            if joined:
                sections[-1].paragraphs.append(joined)
            para.clear()

    for line in body.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            para.append(line)
            continue
        m = None if fenced else _HEADING.match(line)
        if m:
            flush()
            level, name = len(m.group(1)), m.group(2).strip()
            if level == 1 and not title and not stack and not any(s.paragraphs for s in sections):
                title = name  # the first H1 before any text is the document's title
                continue
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, name))
            sections.append(Section(tuple(n for _, n in stack if n != title)))
        elif not fenced and (not line.strip() or re.fullmatch(r"\s*([-*_])(\s*\1){2,}\s*", line)):
            flush()
        else:
            para.append(line.rstrip())
    flush()
    return Extracted(title or _stem_title(path), _keywords(meta.get("keywords")), [s for s in sections if s.paragraphs])


def _plain(path: Path, text: str) -> Extracted:
    paras = [p.strip() for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]
    return Extracted(_stem_title(path), (), [Section((), paras)])


class _HtmlText(HTMLParser):
    _BLOCK_TAGS = (
        "p div li ul ol br tr table section article pre blockquote dd dt dl header footer nav main aside "
        "form fieldset figure figcaption hr td th"
    )
    BLOCKS = frozenset(_BLOCK_TAGS.split())
    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.keywords: tuple[str, ...] = ()
        self.sections: list[Section] = [Section(())]
        self._stack: list[tuple[int, str]] = []
        self._buf: list[str] = []
        self._skip = 0
        self._in_title = False
        self._heading: int | None = None

    def _flush(self) -> None:
        text = re.sub(r"[ \t\r\f\v]+", " ", "".join(self._buf))
        text = "\n".join(line.strip() for line in text.split("\n") if line.strip())
        self._buf.clear()
        if not text:
            return
        if self._heading is not None:
            while self._stack and self._stack[-1][0] >= self._heading:
                self._stack.pop()
            self._stack.append((self._heading, text))
            self.sections.append(Section(tuple(n for _, n in self._stack if n != self.title)))
        else:
            self.sections[-1].paragraphs.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "meta":
            a = dict(attrs)
            if (a.get("name") or "").lower() == "keywords" and a.get("content"):
                self.keywords = _keywords(a["content"])
        if tag in self.SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = int(tag[1])
        elif tag in self.BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            if self._heading == 1 and not self.title:
                self.title = re.sub(r"\s+", " ", "".join(self._buf)).strip()
                self._buf.clear()
            else:
                self._flush()
            self._heading = None
        elif tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title + " " + data.strip()).strip()
        elif not self._skip:
            self._buf.append(data)


def _html(path: Path, text: str) -> Extracted:
    parser = _HtmlText()
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:  # html.parser is lenient; anything left is a broken file
        raise Unreadable(f"HTML could not be parsed ({type(exc).__name__})") from None
    parser._flush()
    return Extracted(parser.title or _stem_title(path), parser.keywords, [s for s in parser.sections if s.paragraphs])


def _pdf(path: Path, data: bytes) -> Extracted:
    try:
        import io

        from pypdf import PdfReader
    except ImportError:
        raise Unreadable("PDF is not supported here (pip install pypdf)") from None
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repair notes on damaged files; the reason comes below
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise Unreadable("encrypted PDF")
        title = ""
        meta = reader.metadata
        if meta is not None and meta.title:
            title = str(meta.title).strip()
        sections: list[Section] = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            paras = [re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
            if len(paras) <= 1 and text.count("\n") > 3:
                paras = _lines_to_paragraphs(text)
            if paras:
                sections.append(Section((f"p. {number}",), paras))
    except Unreadable:
        raise
    except Exception as exc:  # pypdf raises many kinds on a damaged file
        raise Unreadable(f"PDF could not be read ({type(exc).__name__})") from None
    return Extracted(title or _stem_title(path), (), sections)


def _lines_to_paragraphs(text: str) -> list[str]:
    """PDF text comes as lines; a line ending a sentence ends a paragraph."""
    out: list[str] = []
    cur: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        cur.append(line)
        if re.search(r"[.!?。！？:：]$", line):
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out
