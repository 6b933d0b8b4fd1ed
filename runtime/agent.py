"""run_agent(context, user_request): the model card's public entry point."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from runtime.base import Decision, Runtime, Turn
from runtime.gate import fail_closed
from runtime.lang import detect_lang
from runtime.settings import ModelSettings

_default: Runtime | None = None
_lock = threading.Lock()


def _turns(context: Sequence[Turn] | Sequence[dict[str, str]] | str | None) -> list[Turn]:
    if context is None:
        return []
    if isinstance(context, str):
        return [Turn("user", context)] if context.strip() else []
    turns = []
    for t in context:
        if isinstance(t, Turn):
            turns.append(t)
        else:
            text = str(t.get("content") or t.get("text") or "")
            turns.append(Turn("assistant", text) if t.get("role") == "assistant" else Turn("user", text))
    return turns


def run_agent(
    context: Sequence[Turn] | Sequence[dict[str, str]] | str | None, user_request: str, runtime: Runtime | None = None
) -> Decision:
    """Decide ALLOW / REFUSE / ESCALATE for `user_request` given earlier turns. Never raises:
    if the model cannot load or run, the verdict is ESCALATE with reason runtime_error."""
    global _default
    try:
        if runtime is None:
            with _lock:
                if _default is None:
                    from runtime.loader import load_runtime

                    _default = load_runtime(ModelSettings())
            runtime = _default
        return runtime.decide(_turns(context), user_request)
    except Exception:  # noqa: BLE001 - fail closed
        return fail_closed(detect_lang(user_request or ""))
