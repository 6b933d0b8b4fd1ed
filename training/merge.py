"""`so8t export --merge --quant ...`: fold a trained LoRA adapter into its base GGUF, then quantize.

merge: every base tensor is read with the `gguf` package and dequantized to float32; each LoRA target
(blk.N.attn_q.weight, ...) gets `W + alpha / r * B @ A` (the adapter's tensors are already in llama.cpp's
row order, q/k permutation included, so the sum needs no further permutation); the result is written
with the base's metadata as F32 or F16 (1-D tensors such as norms stay F32, as llama.cpp's converter
writes them). quantize: llama.cpp's own quantizer (through runtime.llama.quantize_gguf) turns the merged
file into each requested type. Each variant gets the adapter's safety head, re-stamped with the
variant's fingerprint: the head is the same, what the quantization does to its input is what
`so8t eval` then measures.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.head import SafetyHead
from runtime.models import fingerprint

QUANT_TYPES: tuple[str, ...] = ("Q4_K_M", "Q4_K_S", "IQ4_XS", "Q3_K_M", "Q8_0", "Q5_K_M", "Q6_K")
MERGE_TYPES: tuple[str, ...] = ("F32", "F16")


class ExportError(Exception):
    """A problem the user can fix (missing adapter, unknown quant type): one clear line."""


@dataclass(frozen=True)
class Variant:
    name: str  # F16, Q4_K_M, ...
    path: Path
    head: Path
    size: int
    fingerprint: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.path.name,
            "head": self.head.name,
            "bytes": self.size,
            "fingerprint": self.fingerprint,
            "seconds": round(self.seconds, 1),
        }


def parse_quants(spec: str) -> list[str]:
    names = [q.strip().upper() for q in spec.split(",") if q.strip()]
    bad = [q for q in names if q not in QUANT_TYPES]
    if bad:
        raise ExportError(f"unknown quantization type(s) {', '.join(bad)}; choose from {', '.join(QUANT_TYPES)}")
    return list(dict.fromkeys(names))


def read_lora(adapter: Path) -> tuple[float, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(alpha, {base tensor name: (lora_a (r, in), lora_b (out, r))}) of a GGUF adapter."""
    from training.gguf_adapter import read_adapter

    meta, tensors = read_adapter(adapter)
    if meta.get("general.type") != "adapter" or meta.get("adapter.type") != "lora":
        raise ExportError(f"{adapter} is not a llama.cpp LoRA adapter")
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, a in tensors.items():
        if name.endswith(".lora_a"):
            base = name[: -len(".lora_a")]
            b = tensors.get(base + ".lora_b")
            if b is None:
                raise ExportError(f"{adapter}: {base}.lora_a has no lora_b")
            pairs[base] = (a.astype(np.float32), b.astype(np.float32))
    if not pairs:
        raise ExportError(f"{adapter} holds no LoRA tensors")
    return float(meta["adapter.lora.alpha"]), pairs  # type: ignore[arg-type]


def _copy_fields(reader: Any, writer: Any, file_type: int, extra: dict[str, str]) -> None:
    import gguf

    for field in reader.fields.values():
        name = field.name
        if name.startswith("GGUF.") or name in (gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.FILE_TYPE):
            continue
        if name in extra:
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), vtype, sub_type=sub)
    writer.add_file_type(file_type)
    for k, v in extra.items():
        writer.add_string(k, v)


def merge_gguf(base: Path, adapter: Path, out: Path, out_type: str = "F16") -> dict[str, Any]:
    """Write base + LoRA as one GGUF of `out_type` (F32 or F16); returns what was merged."""
    import gguf
    from gguf.quants import dequantize

    if out_type not in MERGE_TYPES:
        raise ExportError(f"merged type must be one of {', '.join(MERGE_TYPES)}, not {out_type}")
    logging.getLogger("gguf").setLevel(logging.WARNING)
    alpha, pairs = read_lora(adapter)
    reader = gguf.GGUFReader(str(base))
    arch = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch=arch)
    ftype = gguf.LlamaFileType.ALL_F32 if out_type == "F32" else gguf.LlamaFileType.MOSTLY_F16
    _copy_fields(reader, writer, int(ftype), {"general.so8t.adapter": adapter.parent.name})
    merged = 0
    max_delta = 0.0
    for t in reader.tensors:
        w = dequantize(t.data, t.tensor_type).astype(np.float32)
        shape = tuple(reversed([int(x) for x in t.shape]))
        w = w.reshape(shape)
        if t.name in pairs:
            a, b = pairs.pop(t.name)
            r = a.shape[0]
            delta = (alpha / r) * (b @ a)
            if delta.shape != w.shape:
                raise ExportError(f"{adapter}: {t.name} LoRA shape {delta.shape} does not fit the base's {w.shape}")
            w = w + delta
            merged += 1
            max_delta = max(max_delta, float(np.abs(delta).max()))
        if out_type == "F16" and w.ndim >= 2:
            writer.add_tensor(t.name, w.astype(np.float16))
        else:
            writer.add_tensor(t.name, np.ascontiguousarray(w, dtype=np.float32))
    if pairs:
        raise ExportError(f"{adapter}: tensors missing from the base {base.name}: {', '.join(sorted(pairs)[:3])}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return {"merged_tensors": merged, "max_abs_delta": max_delta, "alpha": alpha}


def stamp_head(head_file: Path, model_file: Path, out: Path, variant: str) -> Path:
    """The adapter's head, declared for `model_file` (its fingerprint), so the runtime accepts the pair."""
    head = SafetyHead.load(head_file)
    head.meta.update(derived_from=head.backbone, variant=variant)
    head.backbone = fingerprint(model_file)
    head.save(out)
    return out


def trained_files(adapter_dir: Path) -> tuple[Path, Path, Path]:
    """(adapter.gguf, head.npz, manifest.json) of a directory made by `so8t train`, each checked to exist."""
    files = (adapter_dir / "adapter.gguf", adapter_dir / "head.npz", adapter_dir / "manifest.json")
    for f in files:
        if not f.is_file():
            raise ExportError(f"{f} not found: --adapter must be a directory made by `so8t train`")
    return files


def export_variants(
    adapter_dir: Path,
    out_dir: Path,
    quants: Sequence[str],
    *,
    merged_type: str = "F16",
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """adapter_dir (made by `so8t train`) -> out_dir/{so8t-<F16|F32>.gguf, so8t-<Q>.gguf, head-*.npz, export.json}."""
    from runtime.llama import quantize_gguf
    from runtime.models import resolve_model_path

    adapter, head_file, manifest_file = trained_files(adapter_dir)
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    given = Path(str(manifest["base"].get("path", "")))
    base = given if given.is_file() else resolve_model_path(str(manifest["base"]["name"]))
    if fingerprint(base) != manifest["base"]["fingerprint"]:
        raise ExportError(f"{base} is not the base the adapter was trained on ({manifest['base']['fingerprint']})")
    out_dir.mkdir(parents=True, exist_ok=True)
    variants: list[Variant] = []
    t0 = time.perf_counter()
    merged = out_dir / f"so8t-{merged_type}.gguf"
    info = merge_gguf(base, adapter, merged, merged_type)
    log(f"merged {info['merged_tensors']} tensors into {merged} ({merged.stat().st_size / 1e6:.0f} MB)")
    variants.append(_variant(merged_type, merged, head_file, out_dir, time.perf_counter() - t0))
    for q in quants:
        t0 = time.perf_counter()
        target = out_dir / f"so8t-{q}.gguf"
        quantize_gguf(merged, target, q)
        log(f"quantized {q}: {target} ({target.stat().st_size / 1e6:.0f} MB)")
        variants.append(_variant(q, target, head_file, out_dir, time.perf_counter() - t0))
    report = {
        "adapter": str(adapter_dir),
        "base": manifest["base"],
        "merge": info,
        "variants": [v.to_dict() for v in variants],
    }
    (out_dir / "export.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def _variant(name: str, path: Path, head_file: Path, out_dir: Path, seconds: float) -> Variant:
    head = stamp_head(head_file, path, out_dir / f"head-{name}.npz", name)
    return Variant(name, path, head, path.stat().st_size, fingerprint(path), seconds)


def ship_adapter(adapter_dir: Path, name: str, dest_root: Path | None = None) -> Path:
    """Copy a trained adapter into runtime/lora/<name>/ (adapter.gguf in float16, head.npz, manifest.json):
    what the package ships and `SO8T_ADAPTER=<name>` serves."""
    import gguf

    from runtime.models import LORA_DIR
    from training.gguf_adapter import read_adapter, write_adapter

    src, head_file, manifest_file = trained_files(adapter_dir)
    dest = (dest_root or LORA_DIR) / name
    dest.mkdir(parents=True, exist_ok=True)
    meta, tensors = read_adapter(src)
    arch = str(meta.get(gguf.Keys.General.ARCHITECTURE, "llama"))
    write_adapter(dest / "adapter.gguf", tensors, float(meta["adapter.lora.alpha"]), arch, name, np.float16)  # type: ignore[arg-type]
    (dest / "head.npz").write_bytes(head_file.read_bytes())
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["base"]["path"] = manifest["base"]["name"]  # resolved by name on the user's machine
    manifest["files"] = {"adapter.gguf": "float16 copy of the trained float32 adapter", "head.npz": "as trained"}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return dest
