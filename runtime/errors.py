"""Errors the runtime raises with one-line, user-fixable messages."""


class RuntimeLoadError(Exception):
    """Base: a model, head or adapter file cannot be used. str() is one line saying which file and how to fix."""


class ModelLoadError(RuntimeLoadError):
    """The GGUF model is missing, unreadable or corrupt."""


class HeadError(RuntimeLoadError):
    """The safety head file is missing, corrupt, or was trained for another backbone."""
