import numpy as np
import pytest

from runtime.base import CATEGORIES, ESCALATE_DOMAINS
from runtime.gate import decide_from_probs, fail_closed


def _pc(cat: str) -> np.ndarray:
    v = np.full(len(CATEGORIES), 0.01)
    v[CATEGORIES.index(cat)] = 0.9
    return v


def test_confident_refuse_keeps_refuse_category() -> None:
    d = decide_from_probs(np.array([0.05, 0.9, 0.05]), _pc("fraud"), "en", 0.8)
    assert (d.decision, d.category, d.human_required, d.reason) == ("REFUSE", "fraud", False, "model")
    assert "anti-fraud" in d.rationale


def test_escalate_routes_to_its_domain_in_japanese() -> None:
    d = decide_from_probs(np.array([0.05, 0.05, 0.9]), _pc("hr"), "ja", 0.8)
    assert (d.decision, d.domain, d.human_required) == ("ESCALATE", "hr", True)
    assert "人事" in d.rationale


def test_allow_has_category_none() -> None:
    d = decide_from_probs(np.array([0.95, 0.03, 0.02]), _pc("legal"), "en", 0.8)
    assert (d.decision, d.category, d.domain) == ("ALLOW", "none", None)


@pytest.mark.parametrize("pv", [[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.45, 0.1, 0.45]])
def test_below_threshold_escalates_to_a_reviewer_domain(pv: list[float]) -> None:
    d = decide_from_probs(np.array(pv), _pc("security"), "en", 0.8)
    assert d.decision == "ESCALATE" and d.reason == "threshold" and d.human_required
    assert d.domain in ESCALATE_DOMAINS
    assert "not confident" in d.rationale


def test_threshold_is_configurable() -> None:
    d = decide_from_probs(np.array([0.7, 0.2, 0.1]), _pc("none"), "en", 0.6)
    assert d.decision == "ALLOW"


def test_fail_closed_is_escalate_runtime_error() -> None:
    d = fail_closed("ja")
    assert (d.decision, d.reason, d.human_required) == ("ESCALATE", "runtime_error", True)
    assert "担当者" in d.rationale
