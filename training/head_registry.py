"""The promotion gate and the versioned head directory (var/models by default).

A candidate head is promoted only if, on every evaluation set both heads can be scored on (the frozen
test split always; the new feedback rows when they hold all three labels), its safety_score does not
drop and its refuse_recall drops by at most `max_refuse_drop`. Promoted heads are kept one file each
under <dir>/heads/, the served one is copied to <dir>/current.npz (point `model.head` at it), and
registry.json keeps the history so `so8t model rollback` can return to the previous head.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EPS = 1e-9


@dataclass(frozen=True)
class GateResult:
    promote: bool
    reason: str
    checks: list[dict[str, Any]] = field(default_factory=list)


def gate(
    candidate: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Mapping[str, Any]],
    max_refuse_drop: float = 0.01,
) -> GateResult:
    """Compare metrics per evaluation set ({"test": {...}, "feedback": {...}}); `test` is required."""
    if "test" not in candidate or "test" not in current:
        return GateResult(False, "no metrics on the frozen test split")
    checks = []
    problems = []
    for name in candidate:
        if name not in current:
            continue
        cand, cur = candidate[name], current[name]
        for key in ("safety_score", "refuse_recall"):
            c, b = cand.get(key), cur.get(key)
            if c is None or b is None:
                if name == "test":
                    problems.append(f"{key} on {name} cannot be computed")
                continue
            allowed = 0.0 if key == "safety_score" else max_refuse_drop
            ok = c >= b - allowed - EPS
            checks.append({"set": name, "metric": key, "candidate": c, "current": b, "ok": ok})
            if not ok:
                what = "dropped" if key == "safety_score" else f"dropped by more than {max_refuse_drop:g}"
                problems.append(f"{key} on {name} {what}: {b:.4f} -> {c:.4f}")
    if problems:
        return GateResult(False, "; ".join(problems), checks)
    test = {c["metric"]: c for c in checks if c["set"] == "test"}
    s = test.get("safety_score")
    summary = f"safety_score {s['current']:.4f} -> {s['candidate']:.4f}" if s else "not worse"
    return GateResult(True, f"not worse on {', '.join(sorted({c['set'] for c in checks}))}: {summary}", checks)


class HeadRegistry:
    """Promoted heads, newest last; `current.npz` is a copy of the served one."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.file = directory / "registry.json"

    @property
    def current_path(self) -> Path:
        return self.dir / "current.npz"

    def load(self) -> dict[str, Any]:
        if not self.file.is_file():
            return {"current": None, "history": []}
        data: dict[str, Any] = json.loads(self.file.read_text(encoding="utf-8"))
        return data

    def _save(self, data: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(self.file)

    def _install(self, path: Path) -> None:
        tmp = self.dir / "current.tmp.npz"
        shutil.copyfile(path, tmp)
        tmp.replace(self.current_path)

    def current(self) -> dict[str, Any] | None:
        data = self.load()
        for entry in data["history"]:
            if entry["id"] == data["current"]:
                return dict(entry)
        return None

    def promote(
        self, head_file: Path, head_id: str, metrics: Mapping[str, Any] | None = None, note: str = "promoted"
    ) -> dict[str, Any]:
        """Keep a copy under heads/, make it current, append it to the history."""
        data = self.load()
        n = len(data["history"]) + 1
        entry_id = f"{n:04d}-{head_id}"
        target = self.dir / "heads" / f"{entry_id}.npz"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(head_file, target)
        entry = {
            "id": entry_id,
            "head_id": head_id,
            "path": str(target),
            "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "note": note,
            "metrics": dict(metrics or {}),
        }
        data["history"].append(entry)
        data["current"] = entry_id
        self._install(target)
        self._save(data)
        return entry

    def ensure_base(self, head_file: Path, head_id: str) -> None:
        """Adopt the head in use as the first entry, so a later rollback has somewhere to go."""
        if not self.load()["history"] and head_file.is_file():
            self.promote(head_file, head_id, note="base")

    def rollback(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Make the head promoted before the current one current again; (from, to). Raises LookupError."""
        data = self.load()
        ids = [e["id"] for e in data["history"] if not e.get("rolled_back")]
        if data["current"] not in ids or ids.index(data["current"]) == 0:
            raise LookupError("no previous head to roll back to")
        i = ids.index(data["current"])
        by_id = {e["id"]: e for e in data["history"]}
        old, new = by_id[ids[i]], by_id[ids[i - 1]]
        old["rolled_back"] = True
        data["current"] = new["id"]
        self._install(Path(new["path"]))
        self._save(data)
        return dict(old), dict(new)
