from runtime.models import DEFAULT_BACKBONE, fingerprint, resolve_model_path
from training.hf_base import resolve_base


def test_train_defaults_to_the_served_default_backbone() -> None:
    ref = resolve_base(None)  # what `so8t train` fine-tunes without --base
    served = resolve_model_path(None)  # what `so8t serve` loads without SO8T_MODEL
    assert ref.name == DEFAULT_BACKBONE.name and ref.fingerprint == fingerprint(served)


def test_a_backbone_name_resolves_to_its_gguf() -> None:
    ref = resolve_base("smollm2")
    assert ref.gguf_file is not None and ref.gguf_file.endswith(".gguf") and ref.arch == "llama"
