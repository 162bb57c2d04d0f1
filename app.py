"""Start the vocablab web app (locally, on Hugging Face Spaces, or in Docker).

Settings, all from the environment: ``VOCABLAB_PUBLIC`` (public mode; on by itself on a Space),
``VOCABLAB_WORKDIR``, ``VOCABLAB_RUNS_MAX_GB`` and ``VOCABLAB_RUNS_MAX_HOURS`` (users' outputs; see
``vocablab/outputs.py``), ``VOCABLAB_MODEL_CACHE_GB`` (loaded models), ``VOCABLAB_HEAVY_JOBS`` (model
runs at once), ``VOCABLAB_QUEUE_SIZE`` (requests waiting, beyond which a visitor is told to retry).
"""

import spaces  # noqa: F401, I001 - first: on ZeroGPU it must come before anything touches CUDA

import logging
import os
import threading

from vocablab import outputs
from vocablab.presets import DEFAULT_MODELS, ensure_preset
from vocablab.ui.app import build_app

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def warm_default_presets() -> None:
    """Fetch and convert the default models in the background so the first click is quick."""
    for name in DEFAULT_MODELS:
        try:
            ensure_preset(name)  # logs each step
        except Exception as exc:  # noqa: BLE001 - the app still serves hub ids and local models
            logging.warning("could not prepare preset %s: %s", name, exc)


def sweep_now_and_hourly() -> None:
    """Delete users' outputs past the age or size limit: at start, then every hour."""
    while True:
        try:
            outputs.sweep()
        except Exception:  # noqa: BLE001 - a failed sweep is logged and tried again in an hour
            logging.exception("sweeping users' outputs failed")
        threading.Event().wait(3600)


if __name__ == "__main__":
    if outputs.public_mode():
        logging.info("public mode: presets, hub ids and each visitor's own outputs only")
    threading.Thread(target=warm_default_presets, daemon=True).start()
    threading.Thread(target=sweep_now_and_hourly, daemon=True).start()
    queue_size = int(os.environ.get("VOCABLAB_QUEUE_SIZE", "64"))
    # api_open=False: every request goes through the queue (its limits, and a visitor's session)
    build_app().queue(default_concurrency_limit=8, max_size=queue_size, api_open=False).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        # Gradio's run history keeps each call's inputs in the browser (and offers to upload them to a
        # hub bucket); the push form's inputs could include a hub token. Links share a view instead.
        run_history=False,
    )
