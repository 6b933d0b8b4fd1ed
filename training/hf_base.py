"""The base model for fine-tuning: the same GGUF the runtime serves, loaded by transformers (dequantized),
or a local Hugging Face directory. Nothing is ever downloaded (HF_HUB_OFFLINE is forced on)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.models import DEFAULT_BACKBONE, MODELS_CACHE, fingerprint, model_name, resolve_model_path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass(frozen=True)
class BaseRef:
    """Which base a run trains on, and how the runtime identifies it (the head's `backbone`)."""

    directory: Path
    gguf_file: str | None  # None: a Hugging Face directory
    fingerprint: str
    name: str
    arch: str

    @property
    def gguf_path(self) -> Path | None:
        return self.directory / self.gguf_file if self.gguf_file else None


def gguf_architecture(path: Path) -> str:
    import gguf

    reader = gguf.GGUFReader(str(path))
    field = reader.fields.get("general.architecture")
    return str(field.contents()) if field is not None else "llama"


def resolve_base(base: str | None) -> BaseRef:
    """`base`: None (the served default deciding backbone, so that `SO8T_ADAPTER=OUT` serves what the bot
    serves), a backbone name, a GGUF file, or an HF dir."""
    if base and Path(base).expanduser().is_dir():
        d = Path(base).expanduser().resolve()
        cfg = d / "config.json"
        if not cfg.is_file():
            raise FileNotFoundError(f"{d} is not a Hugging Face model directory (no config.json); pass a GGUF file")
        import json

        arch = str(json.loads(cfg.read_text()).get("model_type", "llama"))
        fp = "hf-" + hashlib.sha256(cfg.read_bytes()).hexdigest()[:13]
        return BaseRef(directory=d, gguf_file=None, fingerprint=fp, name=d.name, arch=arch)
    p = resolve_model_path(base or DEFAULT_BACKBONE.name)  # raises ModelLoadError with a clear message
    return BaseRef(
        directory=p.parent,
        gguf_file=p.name,
        fingerprint=fingerprint(p),
        name=model_name(p),
        arch=gguf_architecture(p),
    )


def converted_dir(ref: BaseRef) -> Path:
    """Where the dequantized copy of a GGUF base is kept (float32 safetensors + tokenizer)."""
    return Path(os.environ.get("SO8T_HF_CACHE", MODELS_CACHE / "hf")) / ref.fingerprint


def _source(ref: BaseRef) -> tuple[Path, dict[str, Any]]:
    """(directory, from_pretrained kwargs): the converted copy when there is one, else the GGUF itself.

    Dequantizing a GGUF in transformers costs ~15 s on 2 cores; the converted copy loads in ~2 s."""
    if ref.gguf_file is None:
        return ref.directory, {}
    conv = converted_dir(ref)
    if (conv / "config.json").is_file() and (conv / "tokenizer_config.json").is_file():
        return conv, {}
    return ref.directory, {"gguf_file": ref.gguf_file}


def convert_gguf(ref: BaseRef) -> Path:
    """Dequantize a GGUF base once into converted_dir(ref) (atomic rename; concurrent runs are safe)."""
    import tempfile

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    conv = converted_dir(ref)
    if ref.gguf_file is None or (conv / "config.json").is_file():
        return conv
    conv.parent.mkdir(parents=True, exist_ok=True)
    kw = {"gguf_file": ref.gguf_file}
    tok = AutoTokenizer.from_pretrained(str(ref.directory), **kw)
    model: Any = AutoModelForCausalLM.from_pretrained(str(ref.directory), dtype=torch.float32, **kw)
    # the weights are already plain float32; drop the GGUF "quantizer" marker so they can be saved
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with tempfile.TemporaryDirectory(dir=conv.parent) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        try:
            os.rename(tmp, conv)
            os.mkdir(tmp)  # so TemporaryDirectory's cleanup finds it
        except OSError:
            pass  # another run converted it first
    return conv


def load_base(ref: BaseRef, *, device: str = "cpu", qlora: bool = False, cache: bool = True) -> tuple[Any, Any]:
    """(model, tokenizer); float32 on CPU, 4-bit (QLoRA) on CUDA when asked for."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    if cache and ref.gguf_file is not None:
        convert_gguf(ref)
    directory, found = _source(ref) if cache else (ref.directory, {"gguf_file": ref.gguf_file} if ref.gguf_file else {})
    kw: dict[str, Any] = dict(found)
    model: Any
    tok = AutoTokenizer.from_pretrained(str(directory), **kw)
    if qlora:
        from transformers import BitsAndBytesConfig

        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
        kw["device_map"] = {"": 0}
        model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.bfloat16, **kw)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32, **kw)
        model.to(device)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):  # a base model: the runtime's fallback turn format
        from runtime.prompts import fallback_template

        tok.chat_template = fallback_template(str(model.config.model_type))
    model.config.use_cache = False
    return model, tok


def attention_heads(model: Any) -> tuple[int, int]:
    cfg = model.config
    n_head = int(cfg.num_attention_heads)
    return n_head, int(getattr(cfg, "num_key_value_heads", None) or n_head)
