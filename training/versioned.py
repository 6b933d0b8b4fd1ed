"""A versioned dataset: the seed set (so8t_dataset.jsonl, as `build()` makes it) plus every feedback file,
written to <versions>/<version>/dataset.jsonl with a manifest.json (counts per label x lang x source and
the sha256 of each part). The version name is derived from the parts' hashes, so the same inputs give
the same version. Feedback rows never enter the frozen test split (checked here, not just assumed).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from training.dataset import DATA_DIR, DATASET_FILE, read_jsonl
from training.feedback import FEEDBACK_DIR, feedback_files, feedback_split, text_hash

VERSIONS_DIR = DATA_DIR / "versions"
LATEST = "LATEST"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_versioned(
    seed_path: Path = DATASET_FILE,
    feedback_dir: Path = FEEDBACK_DIR,
    versions_dir: Path = VERSIONS_DIR,
    now: float | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Merge seed + feedback into a new version directory; returns (dataset path, manifest)."""
    parts = [("seed", seed_path), *(("feedback", p) for p in feedback_files(feedback_dir))]
    part_info = [{"kind": k, "path": str(p), "sha256": sha256_file(p)} for k, p in parts]
    version = "v-" + hashlib.sha256("".join(p["sha256"] for p in part_info).encode()).hexdigest()[:12]
    seed = read_jsonl(seed_path)
    seen = {text_hash(str(r["text"])) for r in seed}
    rows: list[dict[str, Any]] = list(seed)
    skipped = 0
    for kind, path in parts[1:]:
        assert kind == "feedback"
        for r in read_jsonl(path):
            h = text_hash(str(r["text"]))
            if h in seen:  # already in the seed set or an earlier feedback file
                skipped += 1
                continue
            seen.add(h)
            r = dict(r)
            r["source"] = "feedback"
            if r.get("split") not in ("train", "dev"):
                r["split"] = feedback_split(str(r.get("group") or h[:12]))
            rows.append(r)
    leaked = [r for r in rows if r.get("source") == "feedback" and r.get("split") == "test"]
    if leaked:
        raise ValueError(f"{len(leaked)} feedback row(s) in the test split")
    out_dir = versions_dir / version
    out_dir.mkdir(parents=True, exist_ok=True)
    data_path = out_dir / "dataset.jsonl"
    with data_path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts: Counter[str] = Counter(f"{r['label']}|{r.get('lang')}|{r.get('source')}" for r in rows)
    splits: Counter[str] = Counter(f"{r.get('split')}|{r.get('source')}" for r in rows)
    manifest = {
        "version": version,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "rows": len(rows),
        "feedback_rows": sum(1 for r in rows if r.get("source") == "feedback"),
        "feedback_duplicates_skipped": skipped,
        "parts": part_info,
        "dataset": {"path": str(data_path), "sha256": sha256_file(data_path)},
        "counts": {k: counts[k] for k in sorted(counts)},  # "label|lang|source"
        "splits": {k: splits[k] for k in sorted(splits)},  # "split|source"
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    (versions_dir / LATEST).write_text(version + "\n")
    return data_path, manifest


def latest_version(versions_dir: Path = VERSIONS_DIR) -> Path | None:
    marker = versions_dir / LATEST
    if not marker.is_file():
        return None
    path = versions_dir / marker.read_text().strip() / "dataset.jsonl"
    return path if path.is_file() else None
