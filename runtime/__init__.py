"""The model side of SO8T: the safety head (SafetyHeadB) and the answer head (TaskHeadA)."""

from runtime.base import CATEGORIES, ESCALATE_DOMAINS, LABELS, REFUSE_CATEGORIES, Decision, Runtime

__all__ = ["CATEGORIES", "ESCALATE_DOMAINS", "LABELS", "REFUSE_CATEGORIES", "Decision", "Runtime"]
