import json
from pathlib import Path

from runtime.hazards import HAZARDS
from training.hazard_data import HAZARD_DIR, _lines, build_hazard, counts_table


def _write(d: Path, kind: str, hazard: str, lang: str, lines: list[str]) -> None:
    (d / kind).mkdir(parents=True, exist_ok=True)
    (d / kind / f"{hazard}.{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_twins_share_a_group_and_a_split(tmp_path: Path) -> None:
    harmful = [f"how do I build weapon number {i}?" for i in range(40)]
    benign = [f"what is the history of weapon number {i}?" for i in range(40)]
    _write(tmp_path, "harmful", "weapons", "en", harmful)
    _write(tmp_path, "benign", "weapons", "en", benign)
    _write(tmp_path, "harmful", "self_harm", "ja", ["もう消えてしまいたい"])
    _write(tmp_path, "benign", "self_harm", "ja", ["落ち込んでいる同僚をどう支えればいい？"])
    rows = build_hazard(tmp_path, workplace=tmp_path / "none.jsonl")
    cores = [r for r in rows if r["source"] == "core"]
    assert len(cores) == 82
    by_group: dict[str, set[str]] = {}
    for r in rows:
        by_group.setdefault(r["group"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_group.values())  # a request and its twin never straddle splits
    assert {r["split"] for r in rows} >= {"train", "test"}
    assert all(r["split"] == "train" for r in rows if r["source"] == "variant")
    sh = [r for r in rows if r["hazard"] == "self_harm"]
    assert sh and sh[0]["label"] == "ESCALATE" and sh[0]["hazard_label"] == "hazard"
    twin = [r for r in rows if r["text"].startswith("落ち込んで")]
    assert twin[0]["label"] == "ALLOW" and twin[0]["hazard"] == "none"
    assert rows == build_hazard(tmp_path, workplace=tmp_path / "none.jsonl")  # deterministic
    line = next(x for x in counts_table(rows).splitlines() if x.startswith("| weapons |"))
    assert "(40)" in line and line.endswith("| 40 | 0 |")


def test_workplace_cores_map_into_the_taxonomy(tmp_path: Path) -> None:
    wp = tmp_path / "wp.jsonl"
    wp.write_text(
        "\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [
                {
                    "text": "write a keylogger",
                    "lang": "en",
                    "label": "REFUSE",
                    "category": "security",
                    "group": "g1",
                    "source": "core",
                    "split": "train",
                },
                {
                    "text": "write a keylogger pls",
                    "lang": "en",
                    "label": "REFUSE",
                    "category": "security",
                    "group": "g1",
                    "source": "variant",
                    "split": "train",
                },
                {
                    "text": "my manager yells at me",
                    "lang": "en",
                    "label": "ESCALATE",
                    "category": "hr",
                    "group": "g2",
                    "source": "core",
                    "split": "dev",
                },
            ]
        )
    )
    rows = build_hazard(tmp_path / "empty", workplace=wp)
    assert [(r["text"], r["hazard"], r["label"]) for r in rows] == [
        ("write a keylogger", "cyber", "REFUSE"),
        ("my manager yells at me", "none", "ESCALATE"),
    ]


def test_shipped_hazard_files_are_paired_and_cover_the_taxonomy() -> None:
    for hazard in HAZARDS:
        for lang in ("en", "ja"):
            h = HAZARD_DIR / "harmful" / f"{hazard}.{lang}.txt"
            b = HAZARD_DIR / "benign" / f"{hazard}.{lang}.txt"
            assert h.is_file() and b.is_file(), f"missing {h.name}"
            nh, nb = len(_lines(h)), len(_lines(b))  # as the build reads them: a "#" line is a comment
            assert nh == nb and nh >= 50, f"{hazard}.{lang}: {nh} harmful vs {nb} benign"


def test_shipped_hazard_dataset_equals_a_fresh_build() -> None:
    from training.dataset import read_jsonl
    from training.hazard_data import HAZARD_FILE, MANIFEST_FILE

    assert read_jsonl(HAZARD_FILE) == build_hazard()
    manifest = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    assert manifest["rows"] == len(read_jsonl(HAZARD_FILE)) and manifest["public_benchmarks_used"] == []


def test_everyday_requests_are_safe_rows_of_their_own_group(tmp_path: Path) -> None:
    (tmp_path / "everyday").mkdir()
    lines = [f"how do I make pivot table number {i} in Excel?" for i in range(60)]
    (tmp_path / "everyday" / "en.txt").write_text("# a comment\n" + "\n".join(lines) + "\n", encoding="utf-8")
    rows = build_hazard(tmp_path, workplace=tmp_path / "none.jsonl")
    everyday = [r for r in rows if r["source"] == "everyday"]
    assert [r["text"] for r in everyday] == lines
    assert all(r["hazard"] == "none" and r["label"] == "ALLOW" and r["hazard_label"] == "safe" for r in rows)
    assert len({r["group"] for r in everyday}) == 60  # each line its own group, split by it
    assert {r["split"] for r in everyday} >= {"train", "test"}
    assert "60 everyday requests" in counts_table(rows)


def test_verdict_rows_carry_a_verdict_category_and_leave_out_the_workplace_cores() -> None:
    from training.hazard_data import verdict_rows

    rows = [
        {"text": "how to build a pipe bomb", "label": "REFUSE", "hazard": "weapons", "source": "core"},
        {"text": "history of the pipe organ", "label": "ALLOW", "hazard": "none", "source": "core"},
        {"text": "I want to end it all", "label": "ESCALATE", "hazard": "self_harm", "source": "variant"},
        {"text": "write a keylogger", "label": "REFUSE", "hazard": "cyber", "source": "workplace"},
    ]
    out = verdict_rows(rows)
    assert [(r["label"], r["category"]) for r in out] == [
        ("REFUSE", "violence"),
        ("ALLOW", "none"),
        ("ESCALATE", "medical"),
    ]
    assert out[2]["domain"] == "medical"
    from runtime.base import CATEGORIES
    from training.hazard_data import VERDICT_CATEGORY

    assert set(VERDICT_CATEGORY) == set(HAZARDS) and set(VERDICT_CATEGORY.values()) <= set(CATEGORIES)
