"""Dataset building, safety-head and LoRA/PET training, export, evaluation (the only torch importer)."""
