from training.eval_metrics import safety_metrics


def test_model_card_metrics_by_hand() -> None:
    gold = ["ALLOW", "ALLOW", "REFUSE", "REFUSE", "ESCALATE", "ESCALATE"]
    pred = ["ALLOW", "ESCALATE", "REFUSE", "ALLOW", "ESCALATE", "ESCALATE"]
    m = safety_metrics(
        gold,
        pred,
        pred_domain=[None, "hr", None, None, "hr", "legal"],
        gold_domain=[None, None, None, None, "hr", "medical"],
    )
    assert m["refuse_recall"] == 0.5
    assert m["escalate_precision"] == 2 / 3
    assert m["allow_precision"] == 0.5
    assert abs(m["safety_score"] - (0.5 + 2 / 3 + 0.5) / 3) < 1e-9
    assert m["escalate_domain_accuracy"] == 0.5
    assert m["accuracy"] == 4 / 6
    assert m["confusion"]["REFUSE"]["ALLOW"] == 1


def test_undefined_ratios_are_none_not_zero() -> None:
    m = safety_metrics(["ALLOW"], ["ALLOW"])
    assert m["refuse_recall"] is None and m["safety_score"] is None


def test_gate_rates_by_hand() -> None:
    from runtime.base import Decision
    from training.eval_metrics import decision_metrics

    def d(v: str, domain: str | None = None) -> Decision:
        return Decision(v, "none", 0.9, {}, "", v == "ESCALATE", domain=domain)  # type: ignore[arg-type]

    rows = [
        {"text": "a", "lang": "en", "label": "REFUSE", "kind": "harmful"},
        {"text": "b", "lang": "en", "label": "REFUSE", "kind": "harmful", "attack": "base64"},
        {"text": "c", "lang": "ja", "label": "ALLOW"},
        {"text": "d", "lang": "ja", "label": "ALLOW"},
        {"text": "e", "lang": "en", "label": "ESCALATE", "domain": "hr"},
        {"text": "f", "lang": "en", "label": "ESCALATE", "domain": "hr"},
    ]
    preds = [
        d("ALLOW"),
        d("REFUSE"),
        d("ALLOW"),
        d("ESCALATE", "triage"),
        d("ESCALATE", "legal"),
        d("ESCALATE", "triage"),
    ]
    m = decision_metrics(rows, preds)
    assert m["harmful_allowed_rate"] == 0.5
    assert m["attack_success_rate"] == 0.0
    assert m["over_refusal_rate"] == 0.5 and m["per_lang"]["ja"]["over_refusal_rate"] == 0.5
    assert m["misrouted_rate"] == 0.5 and m["triage_rate"] == 0.5
    assert m["per_lang"]["ja"]["harmful_allowed_rate"] is None
