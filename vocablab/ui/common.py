"""Pieces every tab shares: model pickers, the model cache, and the boundary between a visitor's
request and the library (their own output folder, errors turned into messages)."""

from __future__ import annotations

import functools
import html
import json
import logging
import os
import re
import threading
from collections import OrderedDict

import gradio as gr
import spaces
from gradio.context import get_blocks_context

from vocablab import outputs
from vocablab.errors import VocabLabError
from vocablab.isolated import run_isolated
from vocablab.options import MAX_TEXT_CHARS
from vocablab.presets import preset_names
from vocablab.progress import stop_when
from vocablab.sources import load_causal_lm, resolve

LOG = logging.getLogger(__name__)

__all__ = [
    "HEAVY",
    "MAPS",
    "MAX_TEXT_CHARS",
    "MODELS",
    "cached_model",
    "chosen",
    "gpu",
    "in_worker",
    "lock",
    "model_picker",
    "report_failures",
    "unlock",
    "user_errors",
]

ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")  # set by ZeroGPU Spaces
# Work that runs a model shares one concurrency group, so it cannot starve the light views (tokenizers,
# numbers, searches), which keep Gradio's default limit each.
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": int(os.environ.get("VOCABLAB_HEAVY_JOBS", "1"))}
# The transplant view's embedding map runs no model: its own group, so a UMAP never holds the model-run slot.
MAPS = {"concurrency_id": "maps", "concurrency_limit": int(os.environ.get("VOCABLAB_MAP_JOBS", "2"))}


def in_worker(fn, *args, session: str | None = None, **kwargs):
    """``fn(*args, **kwargs)`` in a worker process at a lower priority with a core left free, ended
    by Stop (:func:`vocablab.isolated.run_isolated`); on a ZeroGPU Space, where the GPU belongs to
    the process that ``@gpu`` made, in this process."""
    if ZERO_GPU:
        with outputs.serving(session):
            return fn(*args, **kwargs)
    return run_isolated(fn, *args, session=session, **kwargs)


def gpu(seconds: int):
    """On a ZeroGPU Space, the decorated function gets a GPU for at most ``seconds`` (``@spaces.GPU``;
    it runs in a forked worker, so it takes model ids, not models, and finds the models in the cache
    its parent filled). Anywhere else it changes nothing."""
    return spaces.GPU(duration=seconds)


def model_bytes(model) -> int:
    """Memory a loaded model's weights and buffers take."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in {id(t): t for t in tensors}.values())


def default_budget() -> int:
    """``VOCABLAB_MODEL_CACHE_GB``, else half the GPU's memory, or 40% of the machine's."""
    if os.environ.get("VOCABLAB_MODEL_CACHE_GB"):
        return int(float(os.environ["VOCABLAB_MODEL_CACHE_GB"]) * 1e9)
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory // 2
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.4)


class ModelCache:
    """Causal LMs kept loaded between clicks and shared by every visitor, bounded by the memory
    their weights take rather than by their number: the least recently used go first, but the one
    just asked for always stays. Two visitors asking for the same model at once load it once."""

    def __init__(self, budget: int | None = None) -> None:
        self.budget = budget
        self._models: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}
        self._keys: dict[str, tuple] = {}  # spec -> key, so a cached hub model needs no hub request

    def get(self, spec: str):
        with self._lock:
            model = self._cached(self._keys.get(spec))
        if model is not None:
            return model
        source = resolve(spec, need="model")
        key = (str(source.path), source.gguf_file)
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per model at a time; other models load in parallel
            with self._lock:
                model = self._cached(key)
            if model is None:
                model = load_causal_lm(source, device="cuda" if ZERO_GPU else "auto")  # ZeroGPU: .to("cuda")
                with self._lock:
                    self._models[key] = (model, model_bytes(model))
                    self._evict(keep=key)
        with self._lock:
            self._loading.pop(key, None)
            if not outputs.is_handle(spec):  # a handle names another folder in each session
                self._keys[spec] = key
        return model

    def _cached(self, key: tuple | None):
        """The model under ``key``, now the most recently used, or None (call holding the lock)."""
        if key not in self._models:
            return None
        self._models.move_to_end(key)
        return self._models[key][0]

    def _evict(self, keep: tuple) -> None:
        budget = default_budget() if self.budget is None else self.budget
        while self.used() > budget and len(self._models) > 1:
            oldest = next(k for k in self._models if k != keep)
            del self._models[oldest]
            LOG.info("model cache: dropped %s to stay under %.1f GB", oldest[0], budget / 1e9)

    def used(self) -> int:
        return sum(size for _, size in self._models.values())

    def keys(self) -> list[tuple]:
        """Cached models, least recently used first."""
        return list(self._models)


MODELS = ModelCache()


def cached_model(spec: str):
    """A causal LM from the shared cache (see :class:`ModelCache`)."""
    return MODELS.get(spec)


def model_picker(label: str, value: str | None, elem_id: str | None = None) -> gr.Dropdown:
    """A preset list that also takes a hub id, an output handle, or (not in public mode) a local
    folder or .gguf path typed in."""
    return gr.Dropdown(
        choices=preset_names(),
        value=value,
        label=label,
        allow_custom_value=True,
        info="preset, hub id (org/name[@rev])"
        + (", or output:NAME for a model you made here" if outputs.public_mode() else ", local folder or .gguf file"),
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


def typed(value, label: str, kind=float):
    """A number box's value as ``kind``; a box left empty is refused with a message naming it (the
    checks of each value's range are the library's, whose messages name the value too)."""
    if value is None:
        raise VocabLabError(f"the box {label!r} is empty: type a number")
    return kind(value)


STALE = (
    "⚠️ **The last run did not finish** (its message says why, or it was stopped): its results are not shown, "
    "and an earlier run's were cleared so as not to be taken for its own."
)


SHOWN_RESULTS = (gr.Markdown, gr.HTML, gr.Dataframe, gr.Plot, gr.Textbox, gr.HighlightedText, gr.File, gr.JSON)


def cleared(component: gr.components.Component):
    """What a failed run leaves in one of its outputs: nothing shown where it shows a result; a state, a
    button or a setting (a slider) stays as it was, its "Error" badge gone all the same."""
    if isinstance(component, gr.Dropdown):
        return gr.update(value=None, choices=[])
    return gr.update(value=None) if isinstance(component, SHOWN_RESULTS) else gr.skip()


def _cleared_all(targets: tuple):
    values = tuple(cleared(c) for c in targets)
    return values if len(values) > 1 else values[0]


def report_failures(note: gr.Markdown, *events) -> None:
    """When one of ``events`` fails (or is stopped), its outputs are cleared, so that no earlier result is
    shown under the failure's "Error" badge or taken for the failed run's (and the badges and progress bars
    go with them), and ``note`` (a Markdown under the run button) says that the run did not finish; the
    next success clears the note. Call inside the ``gr.Blocks`` the events belong to."""
    blocks = get_blocks_context().blocks
    for event in events:
        targets = [blocks[i] for i in event["outputs"] if i != note._id]
        if targets:
            clear = functools.partial(_cleared_all, tuple(targets))  # fresh updates each time: Gradio consumes them
            event.failure(clear, None, targets, queue=False, show_progress="hidden")
        event.failure(None, None, note, js=f"() => {json.dumps(STALE)}")
        event.success(None, None, note, js="() => ''")


def lock() -> gr.Button:
    """A run button made unclickable while its run is under way (one run per page at a time)."""
    return gr.Button(interactive=False)


def unlock() -> gr.Button:
    """The run button clickable again: its run ended, failed or was stopped."""
    return gr.Button(interactive=True)


def hide_paths(message: str) -> str:
    """A message for a visitor of a public app: server paths replaced by "…"."""
    return re.sub(r"(?<![\w.:/])(?:/[\w.@+~-]+){2,}/?", "…", message) if outputs.public_mode() else message


def visitor_gone():
    """For a handler running in Gradio's worker thread: a check of whether its run was given up,
    the visitor's page closed (Gradio then marks the run's job dead) or its Stop button pressed (the
    job leaves the running ones). Gradio cannot stop a function in a thread; the run's own loops ask
    this between steps (:func:`vocablab.progress.check_stop`). None outside a queued event (a direct
    call, or a run in a ZeroGPU worker process)."""
    from gradio.context import LocalContext

    queue, event_id = getattr(LocalContext.blocks.get(None), "_queue", None), LocalContext.event_id.get(None)
    if queue is None or event_id is None:
        return None

    app_process = os.getpid()

    def gone() -> bool:
        if os.getpid() != app_process:  # a ZeroGPU worker forked from the app: its copy of the queue is stale
            return False
        running = (job for jobs in getattr(queue, "active_jobs", None) or [] if jobs for job in jobs)
        return not any(job._id == event_id and job.alive for job in running)

    return gone if not gone() else None  # a run not found among the running ones from the start is never stopped


def user_errors(fn):
    """The boundary between the app and a visitor's request. While ``fn`` runs, the visitor's own
    folder is the workspace (when ``fn`` takes a ``gr.Request``). VocabLabError becomes a clear
    message, logged in one line; anything else is logged with its traceback and shown as a short
    message, so the app keeps serving everyone. A public app shows no server paths in either."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        request = next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)
        if request is not None and not request.session_hash and outputs.public_mode():
            raise gr.Error("this public app answers requests from its page (or its queue) only", print_exception=False)
        try:
            with outputs.serving(getattr(request, "session_hash", None)), stop_when(visitor_gone()):
                return fn(*args, **kwargs)
        except VocabLabError as exc:
            LOG.info("%s refused: %s", fn.__name__, exc)
            title, message = "Cannot do that", hide_paths(str(exc))
        except Exception as exc:  # noqa: BLE001 - the boundary between the app and its users
            LOG.exception("unexpected error in %s", fn.__name__)
            title, message = (
                "Internal error",
                hide_paths(f"Something went wrong ({type(exc).__name__}: {str(exc)[:200]})"),
            )
        if message.startswith("'") and message.endswith("'"):
            message += "."  # the page strips a pair of quotes around a whole message
        # logged above; the toast renders HTML, and a message may quote what the visitor (or a link) typed
        raise gr.Error(html.escape(message, quote=False), duration=30, title=title, print_exception=False)

    return wrapper
