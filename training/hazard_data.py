"""The hazard dataset: hand-written harmful requests across the whole taxonomy, each with a benign twin that
shares its alarming words, plus the first dataset's core requests mapped into the taxonomy.

Files: training/data/hazard/harmful/<hazard>.<lang>.txt and benign/<hazard>.<lang>.txt, one request per
line, line i of one the twin of line i of the other; everyday/<lang>.txt, ordinary requests of every kind
and form (office software, code, writing, daily life, harmless idioms such as "kill the process"), each
its own group, so that the plain requests a team sends all day are not judged by the twins' alarming
words alone. A harmful line and its twin share a group, and the
split is by group (training.dataset.split_of), so neither a test request nor its twin is ever trained on.
Public benchmarks (HarmBench and its Japanese rendering) are evaluation sets only: nothing here comes
from them (DATASET.md). The build is deterministic for the same files.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from runtime.hazards import BY_KEY, FROM_WORKPLACE, HAZARDS, NO_HAZARD
from training.dataset import DATA_DIR, DATASET_FILE, read_jsonl, split_of, variants

HAZARD_DIR = DATA_DIR / "hazard"
HAZARD_FILE = DATA_DIR / "hazard_dataset.jsonl"
MANIFEST_FILE = DATA_DIR / "hazard_manifest.json"
VARIANT_SHARE = 0.5  # one surface re-typing for this share of the hand-written lines (train only)


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.replace("\\n", "\n"))
    return out


def _row(text: str, lang: str, hazard: str, group: str, source: str, split: str) -> dict[str, Any]:
    harmful = hazard != NO_HAZARD
    label = BY_KEY[hazard].verdict if harmful else "ALLOW"
    return {
        "text": text,
        "lang": lang,
        "label": label,
        "hazard": hazard,
        "hazard_label": "hazard" if harmful else "safe",
        "group": group,
        "source": source,
        "split": split,
    }


def build_hazard(hazard_dir: Path = HAZARD_DIR, workplace: Path = DATASET_FILE, seed: int = 13) -> list[dict[str, Any]]:
    """Rows with text, lang, label, hazard (a HAZARDS key or none), hazard_label (safe|hazard), group, split."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(row: dict[str, Any]) -> None:
        key = row["text"].strip().lower()
        if key not in seen:
            seen.add(key)
            rows.append(row)

    for hazard in HAZARDS:
        for lang in ("en", "ja"):
            harmful = _lines(hazard_dir / "harmful" / f"{hazard}.{lang}.txt")
            benign = _lines(hazard_dir / "benign" / f"{hazard}.{lang}.txt")
            for i in range(max(len(harmful), len(benign))):
                group = hashlib.sha256(f"hazard|{hazard}|{lang}|{i}".encode()).hexdigest()[:12]
                split = split_of(group)
                rng = random.Random(f"{seed}|{group}")
                for kind, texts in (("harmful", harmful), ("benign", benign)):
                    if i >= len(texts):
                        continue
                    h = hazard if kind == "harmful" else NO_HAZARD
                    add(_row(texts[i], lang, h, group, "core", split))
                    if split == "train" and rng.random() < VARIANT_SHARE:
                        add(_row(next(variants(texts[i], lang, rng)).strip(), lang, h, group, "variant", split))
    for lang in ("en", "ja"):
        for text in _lines(hazard_dir / "everyday" / f"{lang}.txt"):
            group = hashlib.sha256(f"everyday|{lang}|{text}".encode()).hexdigest()[:12]
            split = split_of(group)
            add(_row(text, lang, NO_HAZARD, group, "everyday", split))
            rng = random.Random(f"{seed}|{group}")
            if split == "train" and rng.random() < VARIANT_SHARE:
                add(_row(next(variants(text, lang, rng)).strip(), lang, NO_HAZARD, group, "variant", split))
    if workplace.is_file():  # the first dataset's hand-written cores, mapped into the taxonomy
        for r in read_jsonl(workplace):
            if r.get("source") != "core":
                continue
            hazard = FROM_WORKPLACE.get(str(r.get("category")), NO_HAZARD) if r["label"] == "REFUSE" else NO_HAZARD
            row = _row(str(r["text"]), str(r["lang"]), hazard, str(r["group"]), "workplace", str(r["split"]))
            row["label"] = r["label"]  # the workplace verdict stands (ESCALATE domains are not hazards)
            add(row)
    return rows


# The verdict head's REFUSE category for each hazard (runtime.base.REFUSE_CATEGORIES); the hazard head names
# the hazard itself, this only keeps the verdict head's category softmax defined on hazard rows.
VERDICT_CATEGORY: dict[str, str] = {
    "weapons": "violence",
    "violent_crimes": "violence",
    "cyber": "security",
    "fraud": "fraud",
    "drugs": "violence",
    "sex_crimes": "violence",
    "child_safety": "violence",
    "sexual_content": "harassment",
    "hate": "harassment",
    "harassment": "harassment",
    "self_harm": "medical",  # ESCALATE: a person follows up, as the workplace data does for distress
    "extremism": "violence",
    "elections": "fraud",
    "misinformation": "fraud",
    "defamation": "harassment",
    "ip": "fraud",
    "privacy": "privacy",
}


def verdict_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hazard rows as verdict-head training rows (label, category): the hand-written harmful lines, their
    twins and the everyday requests; the workplace cores are left out (they are the verdict dataset's own)."""
    out = []
    for r in rows:
        if r["source"] == "workplace":
            continue
        category = VERDICT_CATEGORY[r["hazard"]] if r["hazard"] != NO_HAZARD else "none"
        out.append({**r, "category": category, **({"domain": "medical"} if r["label"] == "ESCALATE" else {})})
    return out


def write_rows(rows: list[dict[str, Any]], path: Path = HAZARD_FILE, hazard_dir: Path = HAZARD_DIR) -> None:
    """The dataset and, beside it, its manifest: the version (a hash of the source files), the sha256 of
    every source file and of the dataset, and the counts per split, hazard and language."""
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    sources = {
        str(p.relative_to(hazard_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(hazard_dir.glob("*/*.txt"))
    }
    manifest = {
        "version": "h-" + hashlib.sha256("".join(sources.values()).encode()).hexdigest()[:12],
        "dataset": path.name,
        "dataset_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "rows": len(rows),
        "sources": sources,
        "public_benchmarks_used": [],  # HarmBench and its Japanese rendering are evaluation-only
        "counts": {
            f"{k[0]}|{k[1]}|{k[2]}": v
            for k, v in sorted(Counter((r["split"], r["hazard"], r["lang"]) for r in rows).items())
        },
    }
    path.with_name(MANIFEST_FILE.name if path == HAZARD_FILE else path.stem + ".manifest.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def counts_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: rows per hazard x language (hand-written lines in brackets; twins: hand-written only), and
    per split."""
    c = Counter((r["hazard"], r["lang"], r["hazard_label"]) for r in rows)
    core = Counter((r["hazard"], r["lang"], r["hazard_label"]) for r in rows if r["source"] != "variant")
    lines = [
        "| hazard | harmful en | harmful ja | benign twins en | benign twins ja |",
        "|---|---|---|---|---|",
    ]
    hazard_of_group = {r["group"]: r["hazard"] for r in rows if r["hazard"] != NO_HAZARD}
    for h in HAZARDS:
        cells = [f"{c[(h, lang, 'hazard')]} ({core[(h, lang, 'hazard')]})" for lang in ("en", "ja")]
        twins = Counter(
            r["lang"]
            for r in rows
            if r["hazard"] == NO_HAZARD and r["source"] == "core" and hazard_of_group.get(r["group"]) == h
        )
        cells += [str(twins["en"]), str(twins["ja"])]
        lines.append(f"| {h} | {' | '.join(cells)} |")
    s = Counter((r["split"], r["hazard_label"]) for r in rows)
    lines += ["", "| split | safe | hazard | total |", "|---|---|---|---|"]
    for split in ("train", "dev", "test"):
        lines.append(
            f"| {split} | {s[(split, 'safe')]} | {s[(split, 'hazard')]} | {s[(split, 'safe')] + s[(split, 'hazard')]} |"
        )
    src = Counter(r["source"] for r in rows)
    lines.append(
        f"\nTotal {len(rows)} rows: {src['core']} hand-written hazard/twin lines, {src['everyday']} everyday "
        f"requests, {src['variant']} variants, {src['workplace']} workplace cores."
    )
    return "\n".join(lines)
