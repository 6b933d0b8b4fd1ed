"""Small documents and files for the kb tests."""

from __future__ import annotations

from pathlib import Path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` (ASCII) in Helvetica, with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


EXPENSES = """---
title: Expense claims
keywords: [経費精算, 領収書]
---
# Expense claims

## Deadline
Submit every claim in SpendWise within 30 days of the expense.

## Receipts
Attach a receipt for every expense of 3,000 yen or more.
"""

LEAVE_JA = """# 年次有給休暇

## 付与日数
入社日から6か月後に10日の年次有給休暇が付与されます。

## 申請
有給休暇は勤怠ナビで3営業日前までに申請してください。
"""

HR_ONLY = """# Salary bands

## Engineering
Band E3 pays between 6 and 8 million yen a year.
"""
