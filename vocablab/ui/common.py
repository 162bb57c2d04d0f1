"""Pieces every tab shares: model pickers and turning errors into messages for the user."""

from __future__ import annotations

import functools
import logging

import gradio as gr

from vocablab.errors import VocabLabError
from vocablab.options import MAX_TEXT_CHARS
from vocablab.presets import preset_names
from vocablab.sources import load_causal_lm

LOG = logging.getLogger(__name__)

__all__ = ["MAX_TEXT_CHARS", "cached_model", "chosen", "model_picker", "user_errors"]


@functools.lru_cache(maxsize=2)
def cached_model(spec: str):
    """The last two causal LMs the tabs used (models A and B), kept loaded between clicks."""
    return load_causal_lm(spec)


def model_picker(label: str, value: str | None, elem_id: str | None = None) -> gr.Dropdown:
    """A preset list that also takes any hub id, local folder or .gguf path typed in."""
    return gr.Dropdown(
        choices=preset_names(),
        value=value,
        label=label,
        allow_custom_value=True,
        info="preset, hub id (org/name[@rev]), local folder or .gguf file",
        elem_id=elem_id,
    )


def chosen(*specs: str | None) -> list[str]:
    """The non-empty model specs the user picked, in order, without repeats."""
    out: list[str] = []
    for spec in specs:
        spec = (spec or "").strip()
        if spec and spec not in out:
            out.append(spec)
    return out


def user_errors(fn):
    """Show VocabLabError as a clear message; log anything else and show a short message,
    never a traceback, so the app keeps serving everyone."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VocabLabError as exc:
            raise gr.Error(str(exc), duration=30, title="Cannot do that") from exc
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - the boundary between the app and its users
            LOG.exception("unexpected error in %s", fn.__name__)
            message = f"Something went wrong ({type(exc).__name__}: {str(exc)[:200]})"
            raise gr.Error(message, duration=30, title="Internal error") from exc

    return wrapper
