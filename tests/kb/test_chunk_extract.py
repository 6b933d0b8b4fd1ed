"""Extraction (front matter, headings, HTML, encodings) and chunking (size, heading path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.chunk import MAX_CHARS, chunk
from kb.extract import Unreadable, decode, extract


def test_markdown_heading_path_and_front_matter() -> None:
    text = "---\ntitle: Travel\nkeywords: [出張, 宿泊費]\n---\n# Travel\n\n## Hotels\n### Tokyo\nLimit 15,000 yen.\n"
    doc = extract(Path("travel.md"), text.encode())
    assert doc.title == "Travel" and doc.keywords == ("出張", "宿泊費")
    chunks = chunk(doc)
    assert [c.heading for c in chunks] == ["Hotels > Tokyo"] and chunks[0].text == "Limit 15,000 yen."


def test_first_h1_is_the_title_and_code_fences_keep_hashes() -> None:
    doc = extract(Path("x.md"), b"# VPN\n\nIntro.\n\n```\n# not a heading\n```\n")
    assert doc.title == "VPN" and "# not a heading" in chunk(doc)[0].text


def test_long_sections_are_split_and_short_ones_packed() -> None:
    long = "。".join(f"これは{i}番目の文です" for i in range(200)) + "。"
    text = f"# Doc\n\n## Long\n{long}\n\n## A\nshort a\n\n## B\nshort b\n"
    chunks = chunk(extract(Path("d.md"), text.encode()))
    assert all(len(c.text) <= MAX_CHARS + 40 for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[0].heading == "Long" and any(c.heading.endswith("A · B") for c in chunks)


def test_html_headings_title_and_hidden_parts() -> None:
    html = (
        "<html><head><title>Guide</title><meta name='keywords' content='guide, ガイド'><style>p{}</style></head>"
        "<body><nav>menu</nav><h1>Guide</h1><h2>Part &amp; one</h2><p>Alpha<br>beta</p>"
        "<script>alert(1)</script><h3>Sub</h3><ul><li>x</li><li>y</li></ul></body></html>"
    )
    doc = extract(Path("g.html"), html.encode())
    assert doc.title == "Guide" and doc.keywords == ("guide", "ガイド")
    assert [(s.heading, s.paragraphs) for s in doc.sections][-2:] == [
        (("Part & one",), ["Alpha", "beta"]),
        (("Part & one", "Sub"), ["x", "y"]),
    ]
    assert "alert" not in str(doc.sections)


def test_shift_jis_text_is_read() -> None:
    assert decode("経費精算の締め切り".encode("cp932")) == "経費精算の締め切り"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.md", b"", "empty file"),
        ("a.md", b" \n\n ", "empty file"),
        ("a.txt", b"\x00\x01\x02abc", "binary file"),
        ("a.html", b"<html><script>x</script></html>", "no text"),
        ("a.pdf", b"%PDF-1.4 garbage", "PDF could not be read"),
    ],
)
def test_unreadable_files_say_why_in_one_line(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(Unreadable) as exc:
        extract(Path(name), data)
    assert reason in str(exc.value) and "\n" not in str(exc.value)
