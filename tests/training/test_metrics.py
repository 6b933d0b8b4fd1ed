from training.metrics import percentile, safety_metrics


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


def test_percentile() -> None:
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert percentile([], 50) is None
