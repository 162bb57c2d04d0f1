"""The example texts the views open with, shipped in assets/examples/."""

from __future__ import annotations

from vocablab.presets import ASSETS

EXAMPLES = {
    "numbers": "number-heavy text",
    "code": "Python code",
    "multilingual": "multilingual text with emoji",
    "chat": "a chat turn (ChatML markers)",
}


def example_text(name: str) -> str:
    """The text of one example, e.g. ``example_text("numbers")``."""
    return (ASSETS / "examples" / f"{name}.txt").read_text(encoding="utf-8")
