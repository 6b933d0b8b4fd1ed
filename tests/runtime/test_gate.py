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


# ---- the combined gate: hazard head, worst-of forms, severity floor, triage ----------------------------

from runtime.gate import GatePolicy, Signals, gate, severity_hit  # noqa: E402
from runtime.hazards import HAZARD_CLASSES, HAZARDS, NO_HAZARD  # noqa: E402

_ALLOW = np.array([0.96, 0.02, 0.02])


def _hz(p: float, hazard: str = "weapons") -> tuple[np.ndarray, np.ndarray]:
    phc = np.full(len(HAZARD_CLASSES), 0.01)
    phc[HAZARD_CLASSES.index(hazard)] = 0.9
    return np.array([1 - p, p]), phc


def _sig(
    pv: np.ndarray, pc_cat: str, p_hazard: float, hazard: str = "weapons", form: str = "original", text: str = "x"
) -> Signals:
    ph, phc = _hz(p_hazard, hazard)
    return Signals(form, text, pv, _pc(pc_cat), ph, phc)


def test_hazard_head_refuses_what_the_verdict_head_allowed() -> None:
    d = gate([_sig(_ALLOW, "none", 0.93)], "en", GatePolicy())
    assert (d.decision, d.category, d.reason) == ("REFUSE", "weapons", "hazard")
    assert "weapons" in d.rationale and d.signals["hazard"] == 0.93


def test_self_harm_is_never_refused_it_goes_to_support() -> None:
    d = gate([_sig(_ALLOW, "none", 0.9, "self_harm")], "ja", GatePolicy())
    assert (d.decision, d.domain, d.reason, d.human_required) == ("ESCALATE", "support", "self_harm", True)
    assert "サポート" in d.rationale


def test_unsure_hazard_turns_allow_into_triage_but_low_hazard_allows() -> None:
    d = gate([_sig(_ALLOW, "none", 0.3, "drugs")], "en", GatePolicy())
    assert (d.decision, d.domain, d.reason) == ("ESCALATE", "triage", "hazard_unsure")
    d = gate([_sig(_ALLOW, "none", 0.1)], "en", GatePolicy())
    assert d.decision == "ALLOW"


def test_worst_form_decides_a_decoded_request() -> None:
    forms = [_sig(_ALLOW, "none", 0.05), _sig(_ALLOW, "none", 0.97, "cyber", form="base64")]
    d = gate(forms, "en", GatePolicy())
    assert (d.decision, d.category, d.signals["form"]) == ("REFUSE", "cyber", "base64")


def test_severity_floor_makes_allow_impossible() -> None:
    policy = GatePolicy(severity_terms=("Project Falcon", "極秘"))
    d = gate([_sig(_ALLOW, "none", 0.0, text="summary of ｐｒｏｊｅｃｔ falcon please")], "en", policy)
    assert (d.decision, d.domain, d.reason) == ("ESCALATE", "triage", "severity_floor")
    assert d.signals["severity_term"] == "Project Falcon"
    assert gate([_sig(_ALLOW, "none", 0.0, text="lunch menu")], "en", policy).decision == "ALLOW"
    assert severity_hit(["これは極秘資料です"], policy.severity_terms) == "極秘"


def test_unsure_domain_goes_to_triage_not_a_guessed_domain() -> None:
    pc = np.full(len(CATEGORIES), 0.1)
    pc[CATEGORIES.index("hr")], pc[CATEGORIES.index("legal")] = 0.35, 0.3
    d = gate([Signals("original", "x", np.array([0.02, 0.03, 0.95]), pc, *_hz(0.0))], "en", GatePolicy())
    assert (d.decision, d.domain) == ("ESCALATE", "triage")
    d = gate([_sig(np.array([0.02, 0.03, 0.95]), "hr", 0.0)], "en", GatePolicy())
    assert d.domain == "hr"


def test_workplace_refuse_categories_are_named_in_the_taxonomy() -> None:
    d = gate([_sig(np.array([0.02, 0.95, 0.03]), "security", 0.0)], "en", GatePolicy())
    assert (d.decision, d.category) == ("REFUSE", "cyber")


def test_every_hazard_has_a_rationale_in_both_languages() -> None:
    for lang in ("en", "ja"):
        seen = set()
        for h in HAZARDS:
            d = gate([_sig(_ALLOW, "none", 0.99, h)], lang, GatePolicy())
            assert d.category == h and d.rationale
            seen.add(d.rationale)
        assert len(seen) == len(HAZARDS)  # each its own reason, none falling back to another's
    assert HAZARD_CLASSES[0] == NO_HAZARD


def test_a_likely_self_harm_reading_goes_to_support_even_when_another_hazard_leads() -> None:
    ph, phc = _hz(0.98, "violent_crimes")
    phc[HAZARD_CLASSES.index("violent_crimes")], phc[HAZARD_CLASSES.index("self_harm")] = 0.5, 0.43
    d = gate([Signals("original", "x", _ALLOW, _pc("none"), ph, phc)], "en", GatePolicy())
    assert (d.decision, d.domain, d.category) == ("ESCALATE", "support", "self_harm")
    phc[HAZARD_CLASSES.index("self_harm")] = 0.05  # a violent request with a faint self-harm reading
    d = gate([Signals("original", "x", _ALLOW, _pc("none"), ph, phc)], "en", GatePolicy())
    assert (d.decision, d.category) == ("REFUSE", "violent_crimes")


def test_hazard_names_are_localized_for_the_asker() -> None:
    from runtime.hazards import hazard_label

    assert hazard_label("weapons", "ja") == "武器・爆発物・CBRN"
    assert hazard_label("weapons", "en") == "weapons, explosives and CBRN"
    assert hazard_label("security", "ja") == "security"  # a workplace category passes through


def test_a_clear_hazard_head_allows_an_unsure_verdict_whose_best_guess_is_allow() -> None:
    unsure_allow = np.array([0.62, 0.30, 0.08])
    policy = GatePolicy(hazard_clear=0.1)
    d = gate([_sig(unsure_allow, "security", 0.03)], "en", policy)
    assert (d.decision, d.reason, d.domain) == ("ALLOW", "hazard_clear", None)
    # not clear enough, or off: a person decides as before
    assert gate([_sig(unsure_allow, "security", 0.15)], "en", policy).decision == "ESCALATE"
    assert gate([_sig(unsure_allow, "security", 0.03)], "en", GatePolicy(hazard_clear=0.0)).decision == "ESCALATE"
    # an unsure verdict whose best guess is REFUSE or ESCALATE is never cleared
    assert gate([_sig(np.array([0.3, 0.6, 0.1]), "fraud", 0.01)], "en", policy).decision == "ESCALATE"
    assert gate([_sig(np.array([0.35, 0.05, 0.6]), "hr", 0.01)], "en", policy).decision == "ESCALATE"
    # a sure REFUSE stays unless refuse_confirm says otherwise
    sure_refuse = np.array([0.05, 0.93, 0.02])
    assert gate([_sig(sure_refuse, "fraud", 0.01)], "en", policy).decision == "REFUSE"
    d = gate([_sig(sure_refuse, "fraud", 0.01)], "en", GatePolicy(hazard_clear=0.1, refuse_confirm=0.95))
    assert (d.decision, d.reason) == ("ALLOW", "hazard_clear")


def test_a_likely_self_harm_reading_gets_support_below_the_hazard_threshold() -> None:
    d = gate([_sig(_ALLOW, "none", 0.22, "self_harm")], "en", GatePolicy())  # under review, over support_review
    assert (d.decision, d.domain, d.reason) == ("ESCALATE", "support", "self_harm")
    # another hazard at the same level is ALLOWed, one over hazard_review goes to triage; support_review is
    # configurable
    assert gate([_sig(_ALLOW, "none", 0.22, "drugs")], "en", GatePolicy()).decision == "ALLOW"
    assert gate([_sig(_ALLOW, "none", 0.35, "drugs")], "en", GatePolicy()).domain == "triage"
    assert gate([_sig(_ALLOW, "none", 0.35, "self_harm")], "en", GatePolicy(support_review=0.5)).domain == "triage"


def test_words_of_a_person_at_risk_go_to_support_whatever_the_heads_said() -> None:
    # seen in the console: the heads ALLOWed this (hazard 0.18, self-harm under support_review)
    d = gate([_sig(_ALLOW, "none", 0.18, "self_harm", text="もう生きているのがつらいです")], "ja", GatePolicy())
    assert (d.decision, d.domain, d.reason, d.category) == ("ESCALATE", "support", "self_harm", "self_harm")
    assert d.signals["support_term"] == "生きているのがつらい" and "サポート" in d.rationale
    refused = gate([_sig(_ALLOW, "none", 0.95, "drugs", text="I want to die, how many pills")], "en", GatePolicy())
    assert (refused.decision, refused.domain) == ("ESCALATE", "support")  # never a refusal for a person at risk
    quoted = "同僚が「もう消えたい」と言ったとき、どう声をかければいいですか？"
    assert gate([_sig(_ALLOW, "none", 0.05, text=quoted)], "ja", GatePolicy()).decision == "ALLOW"
    admin = GatePolicy(support_terms=("もう限界",))
    assert gate([_sig(_ALLOW, "none", 0.0, text="もう限界かも")], "ja", admin).domain == "support"


def test_a_decoded_form_carries_the_words_too() -> None:
    forms = [
        _sig(_ALLOW, "none", 0.0, text="SSB3YW50IHRvIGRpZQ=="),
        _sig(_ALLOW, "none", 0.0, form="base64", text="I want to die"),
    ]
    d = gate(forms, "en", GatePolicy())
    assert (d.decision, d.domain, d.signals["support_term"]) == ("ESCALATE", "support", "want to die")


def test_support_first_for_a_verdict_made_without_the_gate() -> None:
    from runtime.gate import support_first

    closed = fail_closed("ja")
    d = support_first(closed, ["もう死にたい"])
    assert (d.decision, d.domain, d.reason, d.signals["support_term"]) == (
        "ESCALATE",
        "support",
        "self_harm",
        "死にたい",
    )
    assert "サポート" in d.rationale
    assert support_first(closed, ["VPNが繋がらない"]) is closed
