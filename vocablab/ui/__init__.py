"""The Gradio web app: one module per tab, each a thin shell over a library function."""

from vocablab.ui.app import build_app

__all__ = ["build_app"]
