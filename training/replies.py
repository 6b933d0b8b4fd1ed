"""Reference assistant replies for the LM loss: what TaskHeadA should say for a dataset row.

A row's own `reply` field wins. Otherwise REFUSE rows get a short refusal and ESCALATE rows a hand-off
wording (per category/domain, ja/en), and ALLOW rows get a hand-written reference answer when their
group's core request has one in data/replies/allow.jsonl; the other ALLOW rows train no LM loss (the
backbone's own answers are kept rather than taught a generic filler).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

from training.dataset import DATA_DIR

ALLOW_REPLIES_FILE = DATA_DIR / "replies" / "allow.jsonl"

_REFUSE_WHY = {
    "en": {
        "security": "it could be used to break into or damage systems",
        "harassment": "it targets or demeans a person",
        "fraud": "it would deceive people or falsify records",
        "privacy": "it would expose someone's personal data",
        "violence": "it could lead to someone getting hurt",
    },
    "ja": {
        "security": "システムへの不正アクセスや破壊に使われるおそれがある",
        "harassment": "特定の人を攻撃したり貶めたりする内容",
        "fraud": "人をだましたり記録を改ざんしたりすることになる",
        "privacy": "他人の個人情報を明かすことになる",
        "violence": "人が傷つくおそれがある",
    },
}
_DOMAIN_NAME = {
    "en": {
        "legal": "legal",
        "medical": "occupational health",
        "hr": "HR",
        "privacy": "privacy",
        "compliance": "compliance",
    },
    "ja": {
        "legal": "法務",
        "medical": "産業医・保健",
        "hr": "人事",
        "privacy": "個人情報保護",
        "compliance": "コンプライアンス",
    },
}


def refusal(category: str, lang: str) -> str:
    if lang == "ja":
        why = _REFUSE_WHY["ja"].get(category, "社内の規程に反する")
        return (
            f"申し訳ありませんが、この依頼はお手伝いできません。{why}ためです。"
            "業務上必要な場合は担当部署に相談してください。"
        )
    why = _REFUSE_WHY["en"].get(category, "it goes against company policy")
    return f"Sorry, I can't help with that: {why}. If you need this for your work, please talk to the team responsible."


def handoff(domain: str, lang: str) -> str:
    if lang == "ja":
        name = _DOMAIN_NAME["ja"].get(domain, "担当")
        return (
            f"この件は{name}の担当者が確認する必要があります。"
            "担当者に引き継ぎましたので、このスレッドで連絡をお待ちください。"
        )
    name = _DOMAIN_NAME["en"].get(domain, "the responsible")
    return f"This needs a person from the {name} team. I've passed it to them; someone will follow up in this thread."


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def load_allow_replies(path: Path = ALLOW_REPLIES_FILE) -> dict[str, str]:
    """core text (normalized) -> reference reply."""
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out[_key(str(d["core"]))] = str(d["reply"])
    return out


def reference_replies(
    rows: Sequence[Mapping[str, object]], allow_replies: Mapping[str, str] | None = None
) -> list[str | None]:
    """The reply each row trains the LM on, or None (no LM loss for that row)."""
    table = load_allow_replies() if allow_replies is None else allow_replies
    core_of_group: dict[str, str] = {}
    for r in rows:
        if r.get("source") == "core" and r.get("group"):
            core_of_group[str(r["group"])] = str(r["text"])
    out: list[str | None] = []
    for r in rows:
        lang = "ja" if r.get("lang") == "ja" else "en"
        label = str(r.get("label", ""))
        category = str(r.get("category") or "none")
        if r.get("reply"):
            out.append(str(r["reply"]))
        elif label == "REFUSE":
            out.append(refusal(category, lang))
        elif label == "ESCALATE":
            out.append(handoff(str(r.get("domain") or category), lang))
        else:
            core = core_of_group.get(str(r.get("group", "")), str(r["text"]))
            out.append(table.get(_key(core)))
    return out
