"""The example texts the views open with, shipped in vocablab/data/examples/."""

from __future__ import annotations

from vocablab.presets import DATA

EXAMPLES = {
    "numbers": "number-heavy text",
    "code": "Python code",
    "multilingual": "multilingual text with emoji",
    "chat": "a chat turn (ChatML markers)",
}


def example_text(name: str) -> str:
    """The text of one example, e.g. ``example_text("numbers")``."""
    return (DATA / "examples" / f"{name}.txt").read_text(encoding="utf-8")
