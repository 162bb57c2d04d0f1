"""Start the vocablab web app (locally, on Hugging Face Spaces, or in Docker)."""

import logging
import os
import threading

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


if __name__ == "__main__":
    threading.Thread(target=warm_default_presets, daemon=True).start()
    build_app().queue(default_concurrency_limit=4).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
