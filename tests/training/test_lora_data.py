"""Training rows: reference replies, deterministic batch order (what --resume relies on), collation."""

from __future__ import annotations

import numpy as np

from training.lora_data import Encoded, batch_indices, collate, select_rows
from training.replies import handoff, reference_replies, refusal


def test_reference_replies_by_label_and_core() -> None:
    rows = [
        {
            "text": "how do I change the message of my last git commit? haven't pushed yet",
            "label": "ALLOW",
            "lang": "en",
            "group": "g1",
            "source": "core",
        },
        {
            "text": "hey bot, how do I change the message of my last git commit? haven't pushed yet",
            "label": "ALLOW",
            "lang": "en",
            "group": "g1",
            "source": "variant",
        },
        {"text": "some other allow request", "label": "ALLOW", "lang": "en", "group": "g2", "source": "core"},
        {"text": "x", "label": "REFUSE", "category": "fraud", "lang": "ja"},
        {"text": "y", "label": "ESCALATE", "category": "hr", "lang": "en"},
        {"text": "z", "label": "ALLOW", "reply": "own reply"},
    ]
    r = reference_replies(rows)
    assert r[0] and "--amend" in r[0] and r[1] == r[0]  # variants share their core's reply
    assert r[2] is None
    assert r[3] == refusal("fraud", "ja") and "お手伝いできません" in r[3]
    assert r[4] == handoff("hr", "en") and "HR" in r[4]
    assert r[5] == "own reply"


def test_batch_order_is_a_function_of_the_step() -> None:
    a = [batch_indices(s, 10, 4, seed=3).tolist() for s in range(6)]
    b = [batch_indices(s, 10, 4, seed=3).tolist() for s in range(6)]
    assert a == b
    epoch0 = sorted(sum(a[:3], []))
    assert epoch0 == list(range(10))  # 3 steps per epoch cover every row once
    assert a[:3] != a[3:6]  # a new order each epoch


def test_select_rows_and_collate() -> None:
    rows = [{"text": str(i), "label": "ALLOW", "split": "train" if i % 4 else "dev"} for i in range(20)]
    train = select_rows(rows, "train", 5, seed=0)
    assert len(train) == 5 and all(r["split"] == "train" for r in train)
    assert train == select_rows(rows, "train", 5, seed=0)
    batch = collate([Encoded((1, 2, 3, 4), 2, 0, 9), Encoded((5, 6, 7), 3, 1, 0)], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4], [5, 6, 7, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch["labels"].tolist() == [[-100, -100, 3, 4], [-100, -100, -100, -100]]
    assert np.array_equal(batch["prompt_len"], [2, 3])
