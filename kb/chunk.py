"""Chunks of a document: by heading, then by paragraph, about 500-800 characters, heading path kept.

A section is never split mid-paragraph unless a paragraph alone is longer than MAX_CHARS (then at
sentence ends, then hard). Short sections in a row are packed together until the chunk reaches
MIN_CHARS, so that a passage has enough context to answer from; the chunk's heading then names the
first section and the later ones' last heading ("Claims > Deadline · Receipts").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.extract import Extracted, Section

MIN_CHARS = 500
MAX_CHARS = 800
_SENTENCE = re.compile(r"(?<=[。！？!?])|(?<=[.;:])\s+")


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    heading: str  # "" for text before the first heading
    text: str


def heading_label(path: tuple[str, ...]) -> str:
    return " > ".join(path)


def _pieces(paragraph: str) -> list[str]:
    """A paragraph longer than MAX_CHARS cut at sentence ends, then every MAX_CHARS characters."""
    if len(paragraph) <= MAX_CHARS:
        return [paragraph]
    out: list[str] = []
    cur = ""
    for sentence in (s for s in _SENTENCE.split(paragraph) if s):
        while len(sentence) > MAX_CHARS:
            if cur:
                out.append(cur)
                cur = ""
            out.append(sentence[:MAX_CHARS])
            sentence = sentence[MAX_CHARS:]
        if cur and len(cur) + len(sentence) + 1 > MAX_CHARS:
            out.append(cur)
            cur = ""
        cur = f"{cur} {sentence}".strip() if cur and not cur.endswith(("。", "！", "？")) else cur + sentence
    if cur:
        out.append(cur)
    return [p.strip() for p in out if p.strip()]


def _section_blocks(section: Section) -> list[list[str]]:
    """The section's paragraphs packed into blocks of at most MAX_CHARS."""
    blocks: list[list[str]] = []
    cur: list[str] = []
    size = 0
    for paragraph in section.paragraphs:
        for piece in _pieces(paragraph):
            if cur and size + len(piece) + 2 > MAX_CHARS:
                blocks.append(cur)
                cur, size = [], 0
            cur.append(piece)
            size += len(piece) + 2
    if cur:
        blocks.append(cur)
    return blocks


def chunk(doc: Extracted) -> list[Chunk]:
    """The document's chunks in reading order (ordinal from 0)."""
    chunks: list[Chunk] = []
    heading = ""
    parts: list[str] = []
    size = 0

    def emit() -> None:
        nonlocal heading, parts, size
        if parts:
            chunks.append(Chunk(len(chunks), heading, "\n\n".join(parts)))
        heading, parts, size = "", [], 0

    for section in doc.sections:
        label = heading_label(section.heading)
        for i, block in enumerate(_section_blocks(section)):
            text = "\n\n".join(block)
            first_of_section = i == 0
            fits = parts and first_of_section and size < MIN_CHARS and size + len(text) + len(label) + 4 <= MAX_CHARS
            if fits:
                parts.append(f"{section.heading[-1]}\n{text}" if section.heading else text)
                heading = f"{heading} · {section.heading[-1]}" if section.heading and heading else heading or label
                size += len(text) + len(label) + 4
                continue
            emit()
            heading, parts, size = label, [text], len(text)
    emit()
    return chunks
