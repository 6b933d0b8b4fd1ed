"""`so8t train`: the CLI shim over training.lora (LoRA + safety head + PET, llama.cpp adapter export)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

from cli.common import fail


@click.command(name="train")
@click.option(
    "--base",
    default=None,
    help="GGUF file, embedded backbone name, or HF directory (default: gemma3-270m, the served default)",
)
@click.option("--data", "data_path", default=None, help="dataset JSONL (default: the shipped dataset)")
@click.option(
    "--out", default="var/adapter", show_default=True, help="output dir: adapter.gguf, head.npz, manifest.json"
)
@click.option(
    "--max-steps", type=click.IntRange(min=1), default=None, help="stop after N optimizer steps (wins over --epochs)"
)
@click.option("--epochs", type=click.FloatRange(min=0.0, min_open=True), default=1.0, show_default=True)
@click.option("--resume", is_flag=True, help="continue from --out's checkpoint (same data order and optimizer state)")
@click.option("--pet-weights", default="0.05,0.2,0.5", show_default=True, help="PET weight per phase ('0' = off)")
@click.option("--pet-bounds", default="0.3,0.7", show_default=True, help="phase boundaries as fractions of training")
@click.option(
    "--pet-absolute", is_flag=True, help="PET as the raw mean square (default: divided by the states' mean square)"
)
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--lr", type=float, default=2e-4, show_default=True)
@click.option("--rank", "r", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--alpha", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--max-len", type=click.IntRange(min=16), default=256, show_default=True, help="tokens per sequence")
@click.option("--limit-rows", type=click.IntRange(min=1), default=None, help="a seeded sample of N train rows")
@click.option(
    "--calib-rows", type=click.IntRange(min=0), default=200, show_default=True, help="dev rows for calibration"
)
@click.option("--save-every", type=float, default=300.0, show_default=True, help="autosave interval, seconds")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-qlora", is_flag=True, help="plain LoRA even when CUDA and bitsandbytes are present")
@click.option("--json", "json_out", default=None, help="also write the manifest here")
def train_cmd(
    base: str | None,
    data_path: str | None,
    out: str,
    max_steps: int | None,
    epochs: float,
    resume: bool,
    pet_weights: str,
    pet_bounds: str,
    pet_absolute: bool,
    batch: int,
    lr: float,
    r: int,
    alpha: int,
    max_len: int,
    limit_rows: int | None,
    calib_rows: int,
    save_every: float,
    threads: int | None,
    seed: int,
    no_qlora: bool,
    json_out: str | None,
) -> None:
    """Fine-tune LoRA + safety head with PET on the served GGUF; write a llama.cpp adapter to --out.

    Serve the result with SO8T_ADAPTER=OUT so8t ask/serve/eval (the base it was trained on is loaded from
    its manifest). SIGINT/SIGTERM save a checkpoint."""
    try:
        from training.lora import TrainConfig, TrainError, TrainingInterrupted, train
        from training.pet import PetSchedule
    except ImportError as exc:
        fail(f"training needs the train extra ({exc.name} missing): pip install -e '.[train]'")
    from runtime.errors import ModelLoadError

    try:
        pet = PetSchedule.parse(pet_weights, pet_bounds)
    except ValueError as exc:
        fail(str(exc))
    cfg = TrainConfig(
        base=base,
        data=Path(data_path) if data_path else TrainConfig.data,
        out=Path(out),
        max_steps=max_steps,
        epochs=epochs,
        batch=batch,
        lr=lr,
        r=r,
        alpha=alpha,
        max_len=max_len,
        limit_rows=limit_rows,
        calib_rows=calib_rows,
        pet=pet,
        pet_relative=not pet_absolute,
        seed=seed,
        save_every_s=save_every,
        threads=threads,
        resume=resume,
        qlora="off" if no_qlora else "auto",
    )
    try:
        manifest = train(cfg)
    except TrainingInterrupted as exc:
        click.echo(f"so8t: {exc}", err=True)
        sys.exit(128 + exc.signum if exc.signum in (signal.SIGINT, signal.SIGTERM) else 1)
    except (TrainError, ModelLoadError, FileNotFoundError) as exc:
        fail(str(exc))
    dev = manifest["metrics"].get("dev") or {}
    click.echo(
        f"wrote {cfg.out}/adapter.gguf, head.npz, manifest.json after {manifest['steps']} steps"
        + (f"; dev safety_score {dev.get('safety_score')}" if dev else "")
    )
    click.echo(f'serve it with: SO8T_ADAPTER={cfg.out} so8t ask "..."')
    if json_out:
        Path(json_out).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))


@click.command(name="export")
@click.option(
    "--adapter", "adapter_dir", default="var/adapter", show_default=True, help="a directory made by `so8t train`"
)
@click.option("--out", default="var/export", show_default=True, help="where the merged and quantized GGUFs go")
@click.option("--merge", is_flag=True, help="fold the LoRA into the base weights (always done: quantizing needs it)")
@click.option("--merged-type", type=click.Choice(["F16", "F32"]), default="F16", show_default=True)
@click.option(
    "--quant", default="Q4_K_M,Q4_K_S,IQ4_XS,Q3_K_M", show_default=True, help="comma list of llama.cpp types ('' none)"
)
@click.option("--json", "json_out", default=None, help="also write the export report here")
@click.option("--ship", default=None, help="instead: copy the adapter (float16) into runtime/lora/NAME")
def export_cmd(
    adapter_dir: str, out: str, merge: bool, merged_type: str, quant: str, json_out: str | None, ship: str | None
) -> None:
    """Merge a trained adapter into its base GGUF and write quantized variants, each with its safety head.

    Serve one with SO8T_MODEL=OUT/so8t-Q4_K_M.gguf SO8T_HEAD=OUT/head-Q4_K_M.npz so8t ask "..."."""
    try:
        from training.merge import ExportError, export_variants, parse_quants, ship_adapter
    except ImportError as exc:
        fail(f"export needs the train extra ({exc.name} missing): pip install -e '.[train]'")
    from runtime.errors import ModelLoadError

    if ship:
        try:
            dest = ship_adapter(Path(adapter_dir), ship)
        except (ExportError, OSError) as exc:
            fail(str(exc))
        click.echo(f"shipped {dest} (serve it with SO8T_ADAPTER={ship})")
        return
    try:
        quants = parse_quants(quant)
        report = export_variants(
            Path(adapter_dir), Path(out), quants, merged_type=merged_type, log=lambda s: click.echo(s, err=True)
        )
    except (ExportError, ModelLoadError, ValueError, OSError) as exc:
        fail(str(exc))
    for v in report["variants"]:
        click.echo(f"{v['name']:7} {v['bytes'] / 1e6:8.1f} MB  {Path(out) / v['file']}  head {v['head']}")
    if json_out:
        Path(json_out).write_text(json.dumps(report, indent=2, ensure_ascii=False))


@click.command(name="pet-ablation")
@click.option("--base", default=None, help="GGUF file, embedded backbone name, or HF directory (default: smollm2)")
@click.option("--data", "data_path", default=None, help="dataset JSONL (default: the shipped dataset)")
@click.option("--out", default="var/pet-ablation", show_default=True)
@click.option("--pet-weight", type=click.FloatRange(min=0.0, min_open=True), default=0.2, show_default=True)
@click.option("--safety-steps", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--task-steps", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--eval-rows", type=click.IntRange(min=1), default=600, show_default=True, help="test rows measured")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--max-len", type=click.IntRange(min=16), default=160, show_default=True)
@click.option("--lr", type=float, default=2e-4, show_default=True)
@click.option("--calib-rows", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=None)
@click.option("--json", "json_out", default=None, help="also write the report here")
def pet_ablation_cmd(
    base: str | None,
    data_path: str | None,
    out: str,
    pet_weight: float,
    safety_steps: int,
    task_steps: int,
    eval_rows: int,
    batch: int,
    max_len: int,
    lr: float,
    calib_rows: int,
    seed: int,
    threads: int | None,
    json_out: str | None,
) -> None:
    """PET on vs off, same seed and steps: safety after the safety phase and after a task-only phase."""
    try:
        from training.lora import TrainConfig, TrainError
        from training.pet_ablation import ablate, table
    except ImportError as exc:
        fail(f"the ablation needs the train extra ({exc.name} missing): pip install -e '.[train]'")
    from runtime.errors import ModelLoadError

    if Path(out).exists() and any(Path(out).iterdir()):
        fail(f"{out} is not empty: pick another --out")
    cfg = TrainConfig(
        base=base,
        data=Path(data_path) if data_path else TrainConfig.data,
        out=Path(out),
        batch=batch,
        lr=lr,
        max_len=max_len,
        calib_rows=calib_rows,
        seed=seed,
        threads=threads,
        save_every_s=1e9,
        qlora="off",
    )
    try:
        report = ablate(cfg, pet_weight, safety_steps, task_steps, eval_rows, log=lambda s: click.echo(s, err=True))
    except (TrainError, ModelLoadError, FileNotFoundError) as exc:
        fail(str(exc))
    click.echo(table(report))
    if json_out:
        Path(json_out).write_text(json.dumps(report, indent=2, ensure_ascii=False))


def register(group: click.Group) -> None:
    group.add_command(train_cmd)
    group.add_command(export_cmd)
    group.add_command(pet_ablation_cmd)
