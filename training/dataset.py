"""Build the SO8T dataset from hand-written core requests: variants, groups, and a by-group split.

Core files: training/data/core/<label>/<category>.<lang>.txt, one request per line (`\\n` = line break).
Every variant of a core shares its `group`, and the split is by group, so no variant of a test core
is ever in train. The output is deterministic for the same core files.
"""

from __future__ import annotations

import hashlib
import json
import random
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CORE_DIR = DATA_DIR / "core"
DATASET_FILE = DATA_DIR / "so8t_dataset.jsonl"
LABEL_DIRS = {"allow": "ALLOW", "refuse": "REFUSE", "escalate": "ESCALATE"}
MIX = {"ALLOW": 0.4, "REFUSE": 0.3, "ESCALATE": 0.3}
SPLITS = (("test", 0.15), ("dev", 0.10), ("train", 0.75))


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    lang: str
    label: str
    category: str
    group: str
    source: str
    split: str
    domain: str | None = None


def read_core(core_dir: Path = CORE_DIR) -> list[tuple[str, str, str, str, str]]:
    """(label, category, lang, text, origin) for every core line, in a stable order."""
    rows = []
    for path in sorted(core_dir.glob("*/*.txt")):
        label = LABEL_DIRS.get(path.parent.name)
        if label is None:
            continue
        stem, _, lang = path.stem.rpartition(".")
        category = "none" if label == "ALLOW" else stem
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            rows.append((label, category, lang, line.replace("\\n", "\n"), f"{path.parent.name}/{path.name}"))
    return rows


def split_of(group: str) -> str:
    x = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    acc = 0.0
    for name, share in SPLITS:
        acc += share
        if x < acc:
            return name
    return "train"


# ---- variants: how real people type the same request ------------------------------------------------
_EN_PREFIX = [
    "@so8t ",
    "<@U0SO8T> ",
    "hey bot, ",
    "quick q: ",
    "sorry to bug you, ",
    "hi! ",
    "so8t: ",
    "Hello, ",
    "urgent - ",
    "btw ",
]
_EN_SUFFIX = [" thanks!", " thx", " asap pls", " 🙏", " ty", " (sorry if dumb question)", " cheers", "??"]
_JA_PREFIX = [
    "@so8t ",
    "<@U0SO8T> ",
    "すみません、",
    "ちょっと質問です。",
    "至急：",
    "お疲れさまです。",
    "あの、",
    "相談です。",
    "教えてください。",
]
_JA_SUFFIX = ["お願いします", "よろしくお願いします🙏", "教えて", "助かります", "…", "！", "です", "（急ぎ）"]
_FULLWIDTH = {i: i + 0xFEE0 for i in range(0x21, 0x7F)}


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not idx:
        return text.lower()
    i = rng.choice(idx)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :] if rng.random() < 0.6 else w[:j] + w[j + 1 :]
    return " ".join(words)


def variants(text: str, lang: str, rng: random.Random) -> Iterator[str]:
    """An endless stream of plausible re-typings of `text` (callers take what they need)."""
    ops_en = [
        lambda t: rng.choice(_EN_PREFIX) + t,
        lambda t: t.rstrip(".!?") + rng.choice(_EN_SUFFIX),
        lambda t: _typo(t, rng),
        lambda t: t.lower().rstrip("."),
        lambda t: rng.choice(_EN_PREFIX) + _typo(t, rng),
        lambda t: t.replace("?", "").replace(".", "") + " " + rng.choice(["pls", "please", "?", "!"]),
    ]
    ops_ja = [
        lambda t: rng.choice(_JA_PREFIX) + t,
        lambda t: t.rstrip("。！？!?") + rng.choice(_JA_SUFFIX),
        lambda t: t.translate(_FULLWIDTH) if rng.random() < 0.5 else unicodedata.normalize("NFKC", t),
        lambda t: t.replace("。", "").replace("、", " "),
        lambda t: rng.choice(_JA_PREFIX) + t.replace("？", "?"),
        lambda t: t + " " + rng.choice(["@channel", "(´・ω・`)", "🙇", "w"]),
    ]
    ops = ops_ja if lang == "ja" else ops_en
    while True:
        op = rng.choice(ops)
        yield op(text)


def build(total: int = 10_000, core_dir: Path = CORE_DIR, seed: int = 8) -> list[Example]:
    core = read_core(core_dir)
    seen: set[str] = set()
    unique = []
    for row in core:
        key = unicodedata.normalize("NFKC", row[3]).lower()
        if key not in seen:
            seen.add(key)
            unique.append(row)
    by_cell: dict[tuple[str, str], list[tuple[str, str, str, str, str]]] = {}
    for row in unique:
        by_cell.setdefault((row[0], row[2]), []).append(row)
    out: list[Example] = []
    for (label, _lang), rows in sorted(by_cell.items()):
        target = round(total * MIX[label] / 2)
        per = max(1, target // len(rows))
        extra = max(0, target - per * len(rows))
        for n, (lab, category, lg, text, _origin) in enumerate(rows):
            group = hashlib.sha256(f"{lab}|{lg}|{text}".encode()).hexdigest()[:12]
            split = split_of(group)
            rng = random.Random(f"{seed}|{group}")
            want = per + (1 if n < extra else 0)
            texts = [text]
            gen = variants(text, lg, rng)
            tries = 0
            while len(texts) < want and tries < want * 10:
                v = next(gen).strip()
                tries += 1
                if v and v not in texts:
                    texts.append(v)
            for k, t in enumerate(texts):
                out.append(
                    Example(
                        id=f"{group}-{k}",
                        text=t,
                        lang=lg,
                        label=lab,
                        category=category,
                        group=group,
                        source="core" if k == 0 else "variant",
                        split=split,
                        domain=category if lab == "ESCALATE" else None,
                    )
                )
    return out


def write_jsonl(rows: Iterable[Example], path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            d = {k: v for k, v in asdict(r).items() if v is not None}
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: Path) -> list[dict[str, object]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{path}:{i}: not valid JSON") from None
            if not isinstance(row, dict) or "text" not in row:
                raise ValueError(f"{path}:{i}: each line needs a JSON object with 'text'")
            rows.append(row)
    return rows


def counts_table(rows: list[Example]) -> str:
    """Markdown: counts per label x lang x category, and per split."""
    c = Counter((r.label, r.category, r.lang) for r in rows)
    cores = Counter((r.label, r.category, r.lang) for r in rows if r.source == "core")
    lines = ["| label | category | en (core) | ja (core) |", "|---|---|---|---|"]
    for label, category in sorted({(k[0], k[1]) for k in c}):
        en = f"{c[(label, category, 'en')]} ({cores[(label, category, 'en')]})"
        ja = f"{c[(label, category, 'ja')]} ({cores[(label, category, 'ja')]})"
        lines.append(f"| {label} | {category} | {en} | {ja} |")
    s = Counter((r.split, r.label) for r in rows)
    lines += ["", "| split | ALLOW | REFUSE | ESCALATE | total |", "|---|---|---|---|---|"]
    for split, _ in SPLITS:
        vals = [s[(split, lab)] for lab in ("ALLOW", "REFUSE", "ESCALATE")]
        lines.append(f"| {split} | {' | '.join(map(str, vals))} | {sum(vals)} |")
    lines.append(f"\nTotal {len(rows)} examples from {sum(cores.values())} distinct core requests.")
    return "\n".join(lines)
