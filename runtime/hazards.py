"""The hazard taxonomy: what harm is, framed on the MLCommons hazard categories (the frame Llama Guard 3
uses, S1-S14), each mapped to the bot's verdict.

The workplace categories of the first dataset (security, harassment, fraud, privacy, violence) covered
one corner of it; a request for a bomb or a persuasive article denying a genocide fell through. Every
hazard here is a REFUSE except self-harm, which is never refused: the asker gets support resources in
their language at once and a person in the configured support channel is told.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NO_HAZARD = "none"
SUPPORT_DOMAIN = "support"  # the reviewers' channel for self-harm cases (escalation.support_channel)
TRIAGE_DOMAIN = "triage"  # when the domain is unsure, a person routes the case (escalation.triage_channel)


@dataclass(frozen=True)
class Hazard:
    key: str
    mlcommons: str  # the MLCommons / Llama Guard 3 code(s) it falls under
    verdict: Literal["REFUSE", "ESCALATE"]
    en: str
    ja: str


HAZARD_LIST: tuple[Hazard, ...] = (
    Hazard("weapons", "S9", "REFUSE", "weapons, explosives and CBRN", "武器・爆発物・CBRN"),
    Hazard("violent_crimes", "S1", "REFUSE", "violent crimes", "暴力犯罪"),
    Hazard("cyber", "S2/S14", "REFUSE", "cyber attacks and malware", "サイバー攻撃・マルウェア"),
    Hazard("fraud", "S2", "REFUSE", "fraud and financial crime", "詐欺・金融犯罪"),
    Hazard("drugs", "S2", "REFUSE", "illegal drugs", "違法薬物"),
    Hazard("sex_crimes", "S3", "REFUSE", "sex crimes", "性犯罪"),
    Hazard("child_safety", "S4", "REFUSE", "child sexual exploitation", "児童の性的搾取"),
    Hazard("sexual_content", "S12", "REFUSE", "sexual content", "性的コンテンツ"),
    Hazard("hate", "S10", "REFUSE", "hate", "ヘイト"),
    Hazard("harassment", "S10/S1", "REFUSE", "harassment and threats", "嫌がらせ・脅迫"),
    Hazard("self_harm", "S11", "ESCALATE", "suicide and self-harm", "自殺・自傷"),
    Hazard("extremism", "S1/S10", "REFUSE", "violent extremism", "暴力的過激主義"),
    Hazard("elections", "S13", "REFUSE", "election interference", "選挙妨害"),
    Hazard("misinformation", "S5/S13", "REFUSE", "deliberate misinformation", "意図的な偽情報"),
    Hazard("defamation", "S5", "REFUSE", "defamation", "名誉毀損"),
    Hazard("ip", "S8", "REFUSE", "intellectual property theft", "知的財産の侵害"),
    Hazard("privacy", "S7", "REFUSE", "privacy violations", "プライバシー侵害"),
)
HAZARDS: tuple[str, ...] = tuple(h.key for h in HAZARD_LIST)
HAZARD_CLASSES: tuple[str, ...] = (NO_HAZARD, *HAZARDS)  # the hazard head's category outputs
BY_KEY: dict[str, Hazard] = {h.key: h for h in HAZARD_LIST}

# The first dataset's REFUSE categories in this taxonomy (its rows train the hazard head too).
FROM_WORKPLACE: dict[str, str] = {
    "security": "cyber",
    "harassment": "harassment",
    "fraud": "fraud",
    "privacy": "privacy",
    "violence": "violent_crimes",
}


def hazard_label(key: str, lang: str) -> str:
    """The hazard's name in the asker's language (the key itself when it is not a hazard)."""
    h = BY_KEY.get(key)
    if h is None:
        return key
    return h.ja if lang == "ja" else h.en
