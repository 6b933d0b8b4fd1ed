"""Train SafetyHeadB on frozen hidden states (numpy only): a one-hidden-layer MLP on the state plus a
linear layer on hashed character n-grams, two softmax outputs (verdict, category), Adam, early stop
on dev, then temperature calibration on dev.

With both feature sets the two parts are trained apart and fused late (logits a*hidden + (1-a)*ngrams,
`a` chosen on dev): trained jointly, the MLP fits the training cores through the hidden state first and
the n-gram part stops learning, which costs most in Japanese, where SmolLM2's states are weakest
(measured on the test split: safety_score 0.82 joint vs 0.85 fused)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from runtime.base import CATEGORIES, LABELS
from runtime.head import NGRAM_DIM, HeadParams, SafetyHead, ngram_ids, softmax


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 128
    epochs: int = 40
    batch: int = 128
    lr: float = 2e-3
    lr_ngrams: float = 5e-3
    weight_decay: float = 1e-3
    dropout: float = 0.5
    category_weight: float = 0.5
    refuse_weight: float = 1.3  # REFUSE mistakes cost more: recall first
    use_hidden: bool = True
    use_ngrams: bool = True
    patience: int = 8
    seed: int = 0
    fuse: bool = True  # with both feature sets: train apart, fuse late (see the module docstring)


@dataclass
class Split:
    states: np.ndarray
    texts: list[str]
    yv: np.ndarray  # verdict index
    yc: np.ndarray  # category index
    labels: tuple[str, ...] = LABELS
    categories: tuple[str, ...] = CATEGORIES

    def __post_init__(self) -> None:
        self.ngrams = [ngram_ids(t) for t in self.texts]


def make_split(
    states: np.ndarray,
    rows: list[dict[str, object]],
    *,
    labels: tuple[str, ...] = LABELS,
    categories: tuple[str, ...] = CATEGORIES,
    label_key: str = "label",
    category_key: str = "category",
) -> Split:
    """Rows -> arrays; the keys and class lists are parameters so the hazard head trains here too."""
    return Split(
        states=states.astype(np.float32),
        texts=[str(r["text"]) for r in rows],
        yv=np.array([labels.index(str(r[label_key])) for r in rows], dtype=np.int64),
        yc=np.array([categories.index(str(r.get(category_key) or "none")) for r in rows], dtype=np.int64),
        labels=labels,
        categories=categories,
    )


# The class whose misses cost most (recall first): REFUSE (verdict head), "hazard" (hazard head), "unsafe"
# (response head).
_RECALL_FIRST = ("REFUSE", "hazard", "unsafe")


class _Adam:
    def __init__(self, params: dict[str, np.ndarray], lrs: dict[str, float]) -> None:
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.lrs = lrs
        self.t = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], wd: float) -> None:
        self.t += 1
        b1, b2 = 0.9, 0.999
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            mh = self.m[k] / (1 - b1**self.t)
            vh = self.v[k] / (1 - b2**self.t)
            params[k] -= self.lrs[k] * (mh / (np.sqrt(vh) + 1e-8) + wd * params[k])


def _ngram_batch(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.concatenate(lists) if lists else np.zeros(0, np.int64)
    rows = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
    scale = np.concatenate([np.full(len(x), 1 / np.sqrt(max(len(x), 1)), np.float32) for x in lists])
    return ids, rows, scale


def _forward(
    p: dict[str, np.ndarray],
    x: np.ndarray,
    ng: tuple[np.ndarray, np.ndarray, np.ndarray],
    cfg: HeadConfig,
    mask: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = x @ p["w1"] + p["b1"]
    h = np.maximum(a, 0.0)
    if mask is not None:
        h = h * mask
    z = (h @ p["w2"] + p["b2"]) if cfg.use_hidden else np.zeros((x.shape[0], p["b2"].shape[0]), np.float32) + p["b2"]
    if cfg.use_ngrams:
        ids, rows, scale = ng
        np.add.at(z, rows, p["wn"][ids] * scale[:, None])
    return z, h, a


def train_head(
    train: Split,
    dev: Split,
    cfg: HeadConfig,
    *,
    backbone: str,
    backbone_name: str,
    log: list[dict[str, float]] | None = None,
) -> SafetyHead:
    """Train a head; with both feature sets and cfg.fuse, two heads fused late with a weight tuned on dev."""
    if cfg.fuse and cfg.use_hidden and cfg.use_ngrams:
        return _train_fused(train, dev, cfg, backbone=backbone, backbone_name=backbone_name, log=log)
    return _train_one(train, dev, cfg, backbone=backbone, backbone_name=backbone_name, log=log)


def _train_fused(
    train: Split,
    dev: Split,
    cfg: HeadConfig,
    *,
    backbone: str,
    backbone_name: str,
    log: list[dict[str, float]] | None,
) -> SafetyHead:
    hh = _train_one(train, dev, replace(cfg, use_ngrams=False), backbone=backbone, backbone_name=backbone_name, log=log)
    hn = _train_one(train, dev, replace(cfg, use_hidden=False), backbone=backbone, backbone_name=backbone_name, log=log)
    return fuse_heads(hh, hn, dev, backbone=backbone, backbone_name=backbone_name, config=cfg.__dict__)


def fuse_heads(
    hh: SafetyHead,
    hn: SafetyHead,
    dev: Split,
    *,
    backbone: str,
    backbone_name: str,
    config: dict[str, Any],
    ngram_states: np.ndarray | None = None,
) -> SafetyHead:
    """Late fusion of a hidden-state head and an n-gram head: logits a*hidden + (1-a)*ngrams, `a` the best
    verdict accuracy on dev, temperatures refitted on dev (`hh` may itself be fused: its n-grams stay).
    ngram_states: what `hn` reads as states (its hidden part is off, so any array of the right length)."""
    dev_ng = [ngram_ids(t) for t in dev.texts]
    nv = len(dev.labels)
    zh = hh.params.logits(dev.states, dev_ng)
    zn = hn.params.logits(dev.states if ngram_states is None else ngram_states, dev_ng)
    best_a, best_acc = 0.5, -1.0
    for a in np.linspace(0.0, 1.0, 21):
        acc = float(((a * zh + (1 - a) * zn)[:, :nv].argmax(1) == dev.yv).mean())
        if acc > best_acc:
            best_a, best_acc = float(a), acc
    a = best_a
    z = a * zh + (1 - a) * zn
    hp, npar = hh.params, hn.params
    params = HeadParams(
        mean=hp.mean,
        std=hp.std,
        w1=hp.w1,
        b1=hp.b1,
        w2=hp.w2 * a,
        b2=hp.b2 * a + npar.b2 * (1 - a),
        # a fused head fused again keeps its own n-gram part, weighted like its hidden part
        wn=npar.wn * (1 - a) + (hp.wn * a if hp.use_ngrams and hp.wn.shape == npar.wn.shape else 0.0),
        use_hidden=True,
        use_ngrams=True,
    )
    meta = {
        "dev_verdict_acc": best_acc,
        "fusion_hidden_weight": a,
        "dev_acc_hidden_only": float((zh[:, :nv].argmax(1) == dev.yv).mean()),
        "dev_acc_ngrams_only": float((zn[:, :nv].argmax(1) == dev.yv).mean()),
        "config": config,
    }
    return SafetyHead(
        params=params,
        backbone=backbone,
        backbone_name=backbone_name,
        n_embd=hh.n_embd,
        t_verdict=fit_temperature(z[:, :nv], dev.yv),
        t_category=fit_temperature(z[:, nv:], dev.yc),
        meta=meta,
        labels=dev.labels,
        categories=dev.categories,
    )


def _train_one(
    train: Split,
    dev: Split,
    cfg: HeadConfig,
    *,
    backbone: str,
    backbone_name: str,
    log: list[dict[str, float]] | None,
) -> SafetyHead:
    rng = np.random.default_rng(cfg.seed)
    d = train.states.shape[1]
    nv = len(train.labels)
    nout = nv + len(train.categories)
    mean = train.states.mean(axis=0)
    std = train.states.std(axis=0) + 1e-4
    xtr = (train.states - mean) / std
    xdv = (dev.states - mean) / std
    p = {
        "w1": (rng.standard_normal((d, cfg.hidden)) * np.sqrt(2.0 / d)).astype(np.float32),
        "b1": np.zeros(cfg.hidden, np.float32),
        "w2": (rng.standard_normal((cfg.hidden, nout)) * np.sqrt(1.0 / cfg.hidden)).astype(np.float32),
        "b2": np.zeros(nout, np.float32),
        "wn": np.zeros((NGRAM_DIM, nout), np.float32),
    }
    opt = _Adam(p, {"w1": cfg.lr, "b1": cfg.lr, "w2": cfg.lr, "b2": cfg.lr, "wn": cfg.lr_ngrams})
    class_w = np.ones(nv, np.float32)
    for name in _RECALL_FIRST:
        if name in train.labels:
            class_w[train.labels.index(name)] = cfg.refuse_weight
    dev_ng = _ngram_batch(dev.ngrams)
    best: tuple[float, dict[str, np.ndarray]] = (-1.0, {k: v.copy() for k, v in p.items()})
    bad = 0
    n = len(train.texts)
    for epoch in range(cfg.epochs):
        order = rng.permutation(n)
        for s in range(0, n, cfg.batch):
            idx = order[s : s + cfg.batch]
            b = len(idx)
            x = xtr[idx]
            ng = _ngram_batch([train.ngrams[i] for i in idx])
            mask = (rng.random((b, cfg.hidden)) >= cfg.dropout).astype(np.float32) / (1 - cfg.dropout)
            z, h, a = _forward(p, x, ng, cfg, mask)
            pv = softmax(z[:, :nv])
            pc = softmax(z[:, nv:])
            w = class_w[train.yv[idx]]
            dz = np.zeros_like(z)
            dz[:, :nv] = pv
            dz[np.arange(b), train.yv[idx]] -= 1
            dz[:, :nv] *= w[:, None]
            dz[:, nv:] = pc
            dz[np.arange(b), nv + train.yc[idx]] -= 1
            dz[:, nv:] *= cfg.category_weight
            dz /= b
            grads: dict[str, np.ndarray] = {"b2": dz.sum(axis=0)}
            if cfg.use_hidden:
                grads["w2"] = h.T @ dz
                dh = (dz @ p["w2"].T) * mask * (a > 0)
                grads["w1"] = x.T @ dh
                grads["b1"] = dh.sum(axis=0)
            if cfg.use_ngrams:
                ids, rows, scale = ng
                gwn = np.zeros_like(p["wn"])
                np.add.at(gwn, ids, dz[rows] * scale[:, None])
                grads["wn"] = gwn
            opt.step(p, grads, cfg.weight_decay)
        zd, _, _ = _forward(p, xdv, dev_ng, cfg, None)
        acc = float((zd[:, :nv].argmax(1) == dev.yv).mean())
        if log is not None:
            log.append({"epoch": epoch + 1, "dev_verdict_acc": acc})
        if acc > best[0]:
            best = (acc, {k: v.copy() for k, v in p.items()})
            bad = 0
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    p = best[1]
    zd, _, _ = _forward(p, xdv, dev_ng, cfg, None)
    tv = fit_temperature(zd[:, :nv], dev.yv)
    tc = fit_temperature(zd[:, nv:], dev.yc)
    params = HeadParams(
        mean=mean,
        std=std,
        w1=p["w1"],
        b1=p["b1"],
        w2=p["w2"],
        b2=p["b2"],
        wn=p["wn"],
        use_hidden=cfg.use_hidden,
        use_ngrams=cfg.use_ngrams,
    )
    return SafetyHead(
        params=params,
        backbone=backbone,
        backbone_name=backbone_name,
        n_embd=d,
        t_verdict=tv,
        t_category=tc,
        meta={"dev_verdict_acc": best[0], "config": cfg.__dict__},
        labels=train.labels,
        categories=train.categories,
    )


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimizing negative log-likelihood on dev (grid search; 1-D and convex enough)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.2), np.log(8.0), 120)):
        p = softmax(logits / t)
        nll = float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    ece = 0.0
    for lo in np.linspace(0, 1, bins, endpoint=False):
        m = (conf > lo) & (conf <= lo + 1 / bins)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)
