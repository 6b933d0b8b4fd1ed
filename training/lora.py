"""`so8t train`: LoRA + safety head + PET, trained jointly on the served GGUF; exports a llama.cpp adapter.

One step: the backbone (with LoRA) runs once over prompt+reply; the safety head reads the final-norm
state of the prompt's last token, the LM head is applied only to reply positions (LM loss), and PET
reads the whole final hidden sequence. loss = head + lm_weight * lm + pet_weight(progress) * pet.

Resumable: the row order of step s is a function of (seed, s) alone, and the checkpoint holds the LoRA
and head weights, the optimizer, the RNG states and the step; it is written every `save_every_s`
seconds and when SIGINT/SIGTERM arrives (after the step in flight), then the run stops.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import numpy as np

from runtime.base import SAFETY_THRESHOLD
from training.dataset import DATASET_FILE, read_jsonl
from training.hf_base import BaseRef, load_base, resolve_base
from training.lora_data import Encoded, batch_indices, collate, data_sha, encode_rows, select_rows
from training.pet import PetSchedule, pet_penalty
from training.replies import reference_replies

CHECKPOINT = "checkpoint/state.pt"


@dataclass(frozen=True)
class TrainConfig:
    base: str | None = None  # GGUF file, embedded backbone name, or HF dir; None = the embedded default
    data: Path = DATASET_FILE
    out: Path = Path("var/adapter")
    max_steps: int | None = None  # wins over epochs
    epochs: float = 1.0
    batch: int = 8
    lr: float = 2e-4
    head_lr: float = 1e-3
    warmup: int = 20
    r: int = 8
    alpha: int = 16
    lora_dropout: float = 0.05
    max_len: int = 256
    limit_rows: int | None = None  # a seeded sample of the train split (smoke runs)
    calib_rows: int = 200  # dev rows for the head's temperatures and dev metrics (0: none)
    pet: PetSchedule = field(default_factory=PetSchedule)
    lm_weight: float = 1.0
    pet_relative: bool = True  # PET divided by the states' mean square (scale-free; see training/pet.py)
    head_weight: float = 1.0  # 0 in the PET ablation's task-only phase (frozen head)
    category_weight: float = 0.5
    refuse_weight: float = 1.3
    head_hidden: int = 128
    seed: int = 0
    save_every_s: float = 300.0
    threads: int | None = None
    resume: bool = False
    qlora: str = "auto"  # auto: when CUDA and bitsandbytes exist | off
    threshold: float = SAFETY_THRESHOLD

    def resume_key(self) -> dict[str, Any]:
        """What must match for --resume to continue the same run."""
        return {
            k: v
            for k, v in self.to_dict().items()
            if k in ("batch", "r", "alpha", "max_len", "limit_rows", "seed", "head_hidden", "lm_weight", "pet_relative")
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"], d["out"] = str(self.data), str(self.out)
        d["pet"] = {"weights": list(self.pet.weights), "bounds": list(self.pet.bounds)}
        return d


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM arrived: the checkpoint was saved at `step`; rerun with --resume."""

    def __init__(self, step: int, checkpoint: Path, signum: int) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint saved to {checkpoint}; continue with --resume")
        self.step, self.checkpoint, self.signum = step, checkpoint, signum


class TrainError(Exception):
    """A problem the user can fix (bad data, mismatched checkpoint): one clear line."""


@contextmanager
def _stop_on_signals() -> Iterator[list[int]]:
    """Collect SIGINT/SIGTERM instead of dying mid-step; the loop saves and stops after the step."""
    got: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        got.append(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class Progress:
    """One line per step (rewritten in place on a terminal): loss, PET weight, step time, ETA."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self.times: list[float] = []

    def update(self, rec: dict[str, Any]) -> None:
        self.times.append(float(rec["step_s"]))
        recent = self.times[-20:]
        eta = (self.total - int(rec["step"])) * (sum(recent) / len(recent))
        line = (
            f"step {rec['step']}/{self.total} loss {rec['loss']:.3f} (head {rec['head_loss']:.3f} "
            f"lm {rec['lm_loss']:.3f} pet {rec['pet']:.4f}) pet_w {rec['pet_weight']:.2f} "
            f"{rec['step_s']:.2f}s/step eta {_hms(eta)}"
        )
        self.stream.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _hms(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up, then cosine to 10 % (a function of the step only: resume-safe)."""
    w = max(1, min(warmup, total // 10))
    if step < w:
        return base * (step + 1) / w
    frac = (step - w) / max(1, total - w)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


@dataclass
class Run:
    """Everything a training run holds (built by `prepare`)."""

    cfg: TrainConfig
    ref: BaseRef
    model: Any  # PeftModel
    tokenizer: Any
    head: Any  # TorchHead
    optimizer: Any
    train: list[Encoded]
    dev_rows: list[dict[str, Any]]
    dev: list[Encoded]
    data_sha: str
    total: int
    device: str
    qlora: bool
    step: int = 0
    replies: int = 0


def _use_qlora(cfg: TrainConfig) -> bool:
    import torch

    if cfg.qlora == "off" or not torch.cuda.is_available():
        return False
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return False
    return True


def prepare(cfg: TrainConfig) -> Run:
    import torch
    from peft import LoraConfig, get_peft_model

    from training.gguf_adapter import TARGET_MODULES
    from training.torch_head import TorchHead

    if not cfg.data.is_file():
        raise TrainError(f"data file not found: {cfg.data}")
    try:
        rows = read_jsonl(cfg.data)
    except ValueError as exc:
        raise TrainError(str(exc)) from None
    train_rows = select_rows(rows, "train", cfg.limit_rows, cfg.seed)
    if not train_rows:
        raise TrainError(f"{cfg.data}: no labelled train rows")
    dev_rows = select_rows(rows, "dev", cfg.calib_rows, cfg.seed) if cfg.calib_rows > 0 else []
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    torch.manual_seed(cfg.seed)
    ref = resolve_base(cfg.base)
    qlora = _use_qlora(cfg)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tok = load_base(ref, device=device, qlora=qlora)
    if qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    lcfg = LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(TARGET_MODULES),
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lcfg)
    replies = reference_replies(train_rows)
    train = encode_rows(tok, train_rows, replies, cfg.max_len)
    dev = encode_rows(tok, dev_rows, [None] * len(dev_rows), cfg.max_len)
    head = TorchHead(int(model.config.hidden_size), cfg.head_hidden).to(device)
    lora_params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": lora_params, "lr": cfg.lr, "base_lr": cfg.lr, "weight_decay": 0.0},
            {"params": list(head.parameters()), "lr": cfg.head_lr, "base_lr": cfg.head_lr, "weight_decay": 1e-3},
        ]
    )
    per_epoch = -(-len(train) // cfg.batch)
    total = cfg.max_steps if cfg.max_steps is not None else max(1, math.ceil(cfg.epochs * per_epoch))
    return Run(
        cfg=cfg,
        ref=ref,
        model=model,
        tokenizer=tok,
        head=head,
        optimizer=optimizer,
        train=train,
        dev_rows=list(dev_rows),  # type: ignore[arg-type]
        dev=dev,
        data_sha=data_sha(cfg.data),
        total=total,
        device=device,
        qlora=qlora,
        replies=sum(1 for r in replies if r),
    )


# ---- checkpoint --------------------------------------------------------------------------------------
def save_checkpoint(run: Run) -> Path:
    import torch
    from peft import get_peft_model_state_dict

    path = run.cfg.out / CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "step": run.step,
        "lora": get_peft_model_state_dict(run.model),
        "head": run.head.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "resume_key": run.cfg.resume_key(),
        "data_sha": run.data_sha,
        "base": run.ref.fingerprint,
        "saved_at": time.time(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(run: Run) -> bool:
    """Restore the run from out/checkpoint (False when there is none)."""
    import torch
    from peft import set_peft_model_state_dict

    path = run.cfg.out / CHECKPOINT
    if not path.is_file():
        return False
    state = torch.load(path, map_location=run.device, weights_only=False)
    if state["base"] != run.ref.fingerprint:
        raise TrainError(f"checkpoint {path} is for another base model ({state['base']}); start without --resume")
    if state["data_sha"] != run.data_sha:
        raise TrainError(
            f"the dataset changed since checkpoint {path} was saved (sha {state['data_sha']} -> {run.data_sha}); "
            "resume needs the same data, or start again without --resume"
        )
    if state["resume_key"] != run.cfg.resume_key():
        diff = {
            k: (v, run.cfg.resume_key().get(k))
            for k, v in state["resume_key"].items()
            if run.cfg.resume_key().get(k) != v
        }
        raise TrainError(f"checkpoint {path} was made with other settings {diff}; use the same ones to resume")
    set_peft_model_state_dict(run.model, state["lora"])
    run.head.load_state_dict(state["head"])
    run.optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    run.step = int(state["step"])
    return True


# ---- one step -------------------------------------------------------------------------------------------
def forward_losses(run: Run, batch: dict[str, np.ndarray], pet_weight: float) -> dict[str, Any]:
    """The joint loss for one batch (tensors) and its parts (floats)."""
    import torch
    from torch.nn import functional as F  # noqa: N812

    from training.torch_head import head_loss

    t = {k: torch.from_numpy(v).to(run.device) for k, v in batch.items()}
    causal = run.model.get_base_model()
    hidden = causal.get_decoder()(input_ids=t["input_ids"], attention_mask=t["attention_mask"]).last_hidden_state
    hidden = hidden.float()
    last = hidden[torch.arange(hidden.shape[0], device=hidden.device), t["prompt_len"] - 1]
    h_loss = head_loss(run.head(last), t["verdict"], t["category"], run.cfg.category_weight, run.cfg.refuse_weight)
    targets = t["labels"][:, 1:]
    sel = targets != -100
    if bool(sel.any()):
        logits = causal.get_output_embeddings()(hidden[:, :-1][sel].to(causal.dtype)).float()
        lm = F.cross_entropy(logits, targets[sel])
    else:
        lm = hidden.new_zeros(())
    pet = pet_penalty(hidden, t["attention_mask"], relative=run.cfg.pet_relative)
    loss = run.cfg.head_weight * h_loss + run.cfg.lm_weight * lm + pet_weight * pet
    return {
        "loss_t": loss,
        "loss": float(loss.detach()),
        "head_loss": float(h_loss.detach()),
        "lm_loss": float(lm.detach()),
        "pet": float(pet.detach()),
        "tokens": int(t["attention_mask"].sum()),
        "lm_tokens": int(sel.sum()),
    }


def train_loop(
    run: Run, on_step: Callable[[dict[str, Any]], None] | None = None, stop: list[int] | None = None
) -> None:
    import torch

    cfg = run.cfg
    metrics_path = cfg.out / "metrics.jsonl"
    _truncate_metrics(metrics_path, run.step)
    params = [p for g in run.optimizer.param_groups for p in g["params"]]
    last_save = time.monotonic()
    run.model.train()
    run.head.train()
    with metrics_path.open("a", encoding="utf-8") as mfh:
        while run.step < run.total:
            if stop:
                path = save_checkpoint(run)
                raise TrainingInterrupted(run.step, path, stop[0])
            t0 = time.perf_counter()
            progress = run.step / run.total
            pet_w = cfg.pet.weight(progress)
            for g in run.optimizer.param_groups:
                g["lr"] = lr_at(run.step, run.total, g["base_lr"], cfg.warmup)
            idx = batch_indices(run.step, len(run.train), cfg.batch, cfg.seed)
            batch = collate([run.train[i] for i in idx], int(run.tokenizer.pad_token_id))
            out = forward_losses(run, batch, pet_w)
            out["loss_t"].backward()
            gnorm = torch.nn.utils.clip_grad_norm_(params, 1.0)
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)
            run.step += 1
            rec = {
                "step": run.step,
                "epoch": round(run.step * cfg.batch / len(run.train), 4),
                **{k: out[k] for k in ("loss", "head_loss", "lm_loss", "pet", "tokens", "lm_tokens")},
                "pet_weight": pet_w,
                "phase": cfg.pet.phase(progress),
                "lr": run.optimizer.param_groups[0]["lr"],
                "grad_norm": float(gnorm),
                "step_s": round(time.perf_counter() - t0, 4),
                "time": round(time.time(), 3),
            }
            mfh.write(json.dumps(rec) + "\n")
            mfh.flush()
            if on_step:
                on_step(rec)
            if time.monotonic() - last_save >= cfg.save_every_s and run.step < run.total:
                save_checkpoint(run)
                last_save = time.monotonic()
    save_checkpoint(run)


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop metric lines past the checkpoint's step (they will be recomputed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        return
    keep = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


# ---- entry point -----------------------------------------------------------------------------------------
def train(cfg: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) and export into cfg.out; returns the manifest. Raises TrainingInterrupted on a signal."""
    from training.lora_export import export_run

    if not cfg.resume and (cfg.out / CHECKPOINT).is_file():
        raise TrainError(f"{cfg.out} already holds a checkpoint: pass --resume to continue it or pick another --out")
    with _stop_on_signals() as stop:
        run = prepare(cfg)
        resumed = load_checkpoint(run) if cfg.resume else False
        if cfg.resume and not resumed:
            print(f"no checkpoint in {cfg.out}; starting from step 0", file=sys.stderr)
        bar = Progress(run.total) if progress else None
        print(
            f"training {run.ref.name} ({run.ref.fingerprint}) on {len(run.train)} rows "
            f"({run.replies} with replies), {run.total} steps of {cfg.batch}, device {run.device}"
            f"{' QLoRA' if run.qlora else ''}{f', resumed at step {run.step}' if resumed else ''}",
            file=sys.stderr,
            flush=True,
        )
        try:
            train_loop(run, bar.update if bar else None, stop)
        finally:
            if bar:
                bar.close()
        return export_run(run)
