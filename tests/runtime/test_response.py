"""The response head: its reading of an answer so far, and the runtime's generation loop that consults it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runtime.errors import HeadError
from runtime.head import NGRAM_DIM, HeadParams, SafetyHead, ngram_ids
from runtime.response import (
    RESPONSE_CLASSES,
    RESPONSE_LABELS,
    ResponseHead,
    ResponsePolicy,
    ResponseVerdict,
    ends_sentence,
)


def _ngram_head(words: dict[str, tuple[int, str]], n_embd: int = 8) -> SafetyHead:
    """An n-gram-only head: each word pushes its n-grams towards (label index, category)."""
    nv, nc = len(RESPONSE_LABELS), len(RESPONSE_CLASSES)
    wn = np.zeros((NGRAM_DIM, nv + nc), np.float32)
    for word, (label, category) in words.items():
        ids = ngram_ids(word)
        wn[ids, label] += 200.0 / len(ids)
        wn[ids, nv + RESPONSE_CLASSES.index(category)] += 40.0 / len(ids)
    params = HeadParams(
        use_hidden=False,
        use_ngrams=True,
        mean=np.zeros(n_embd, np.float32),
        std=np.ones(n_embd, np.float32),
        w1=np.zeros((n_embd, 4), np.float32),
        b1=np.zeros(4, np.float32),
        w2=np.zeros((4, nv + nc), np.float32),
        b2=np.zeros(nv + nc, np.float32),
        wn=wn,
    )
    return SafetyHead(
        params,
        "any",
        "test",
        n_embd,
        meta={"head_id": "response-test"},
        labels=RESPONSE_LABELS,
        categories=RESPONSE_CLASSES,
    )


def test_sentence_ends_are_where_the_head_reads() -> None:
    assert ends_sentence("done. ") and ends_sentence("。") and ends_sentence("?") and ends_sentence("a\nb")
    assert not ends_sentence("e.g") and not ends_sentence("3.5") and not ends_sentence("word")


def test_reading_says_unsafe_escalate_or_safe_with_the_right_kind_of_category() -> None:
    head = ResponseHead(_ngram_head({"detonator": (1, "weapons"), "dosage": (2, "medical")}))
    state = np.zeros(8, np.float32)
    v = head.read(state, "How do I build it?", "First get a detonator", position=5, checks=2)
    assert (v.label, v.category, v.flagged) == ("unsafe", "weapons", True) and v.position == 5
    v = head.read(state, "My pills", "Double your dosage tonight", position=7, checks=3)
    assert (v.label, v.category) == ("escalate", "medical")
    v = head.read(state, "Summarize the notes", "Here is the summary.", position=4, checks=1)
    assert (v.label, v.category, v.flagged) == ("safe", "none", False)
    never = ResponsePolicy(unsafe_threshold=1.01, escalate_threshold=1.01, answer_threshold=1.01)
    strict = ResponseHead(head.head, never)
    assert not strict.read(state, "x", "First get a detonator", position=1, checks=1).flagged
    assert json.dumps(v.as_dict())  # audited as JSON
    # a separate threshold once the answer is being written (positions after 0)
    later = ResponseHead(head.head, ResponsePolicy(unsafe_threshold=0.5, answer_threshold=1.01))
    assert later.read(state, "a detonator?", "", position=0, checks=1).flagged
    assert not later.read(state, "x", "First get a detonator", position=9, checks=2).flagged


def test_a_head_trained_on_other_states_is_refused_in_one_line(tmp_path: Path) -> None:
    head = _ngram_head({})
    head.params.use_hidden = True
    head.meta["state_key"] = "other-model-pabc"
    path = tmp_path / "response.npz"
    head.save(path)
    with pytest.raises(HeadError, match="train one with `so8t train-response`"):
        ResponseHead.load(path, state_key="this-model-pdef", n_embd=8)
    assert ResponseHead.load(path, state_key="other-model-pabc", n_embd=8).head_id == "response-test"


@dataclass
class _Recorder:
    """Stands in for the response head inside the real runtime: records every reading, flags the second
    sentence end of the answer."""

    policy: ResponsePolicy = field(default_factory=lambda: ResponsePolicy(every=1000))
    reads: list[tuple[int, str, np.ndarray]] = field(default_factory=list)
    head_id: str = "recorder"

    def read(self, state: np.ndarray, request: str, answer: str, *, position: int, checks: int) -> ResponseVerdict:
        self.reads.append((position, answer, state.copy()))
        ends = sum(1 for ch in answer if ch in ".!?。！？\n")
        label = "unsafe" if ends >= 2 else "safe"
        return ResponseVerdict(label, "cyber" if ends >= 2 else "none", float(ends >= 2), 0.0, position, checks)


@pytest.fixture(scope="module")
def smollm2() -> Any:
    from runtime.llama import LlamaRuntime
    from runtime.settings import ModelSettings

    return LlamaRuntime(ModelSettings(path="smollm2", threads=2, response_head="off"), with_head=False)


def test_the_loop_reads_the_same_cache_and_releases_only_what_was_cleared(smollm2: Any) -> None:
    request = "Explain in three sentences what a git branch is."
    smollm2._response = None
    plain = "".join(smollm2.answer([], request, max_tokens=80))
    assert smollm2.last_finish_reason in ("stop", "length") and plain.count(".") >= 2
    recorder = _Recorder()
    smollm2._response = recorder
    try:
        watched = "".join(smollm2.answer([], request, max_tokens=80))
    finally:
        smollm2._response = None
    assert smollm2.last_finish_reason == "flagged" and smollm2.last_response.label == "unsafe"
    positions = [p for p, _, _ in recorder.reads]
    assert positions[0] == 0 and recorder.reads[0][1] == ""  # the request alone, before any answer token
    assert positions == sorted(positions) and len(positions) >= 3
    # what was released is the answer up to the last cleared sentence end: the flagged sentence never shows
    flagged_at = recorder.reads[-1][1]
    assert plain.startswith(flagged_at.rstrip()[: len(watched)]) and watched == recorder.reads[-2][1]
    assert watched and len(watched) < len(flagged_at)
    # each reading is a real hidden state of that position (they differ from one another)
    states = [s for _, _, s in recorder.reads]
    assert all(s.shape == (smollm2.n_embd,) and np.isfinite(s).all() for s in states)
    assert not np.allclose(states[0], states[1])


def test_greedy_loop_matches_llama_cpps_own_greedy_completion(smollm2: Any) -> None:
    request = "Name two uses of a spreadsheet."
    smollm2._response = None
    ours = "".join(smollm2.answer([], request, max_tokens=40))
    tokens = smollm2.tokens_for([], request)
    ref = smollm2.llm.create_completion(prompt=tokens, max_tokens=40, temperature=0.0, top_k=1, stop=smollm2._stop)
    theirs = str(ref["choices"][0]["text"])
    assert ours.strip() and ours[:60] == theirs[:60]


def test_with_documents_the_request_is_read_as_the_head_learned_it(smollm2: Any) -> None:
    """The position-0 reading of a grounded answer is the state of the prompt without the documents (the one
    screen() reads and the head was trained on); the answer itself is then written with them."""
    request = "How do I connect to the VPN from home?"
    documents = "[1] VPN (vpn.md)\n> Use the company VPN client and connect to vpn.example.com."
    recorder = _Recorder()
    smollm2._response = recorder
    try:
        plain = smollm2._evaluate(smollm2.tokens_for([], request)).copy()
        with_docs = smollm2._evaluate(smollm2.tokens_for([], request, f"{smollm2.system_prompt}\n\n{documents}")).copy()
        "".join(smollm2.answer([], request, max_tokens=8, documents=documents))
    finally:
        smollm2._response = None
    position, answer, state = recorder.reads[0]
    assert position == 0 and answer == ""
    assert np.allclose(state, plain, atol=1e-4) and not np.allclose(state, with_docs, atol=1e-2)
