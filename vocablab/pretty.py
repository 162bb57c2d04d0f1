"""Small text helpers shared by the results' ``lines()`` methods (what the CLI prints)."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """``plural(1, "document")`` is "1 document"; ``plural(2_000, "document")`` is "2,000 documents"."""
    return f"{count:,} {noun}{'s' * (count != 1)}"


def weights_text(weights: list[float]) -> str:
    """Ensemble weights as the CLI shows them: "0.50,0.50"."""
    return ",".join(f"{w:.2f}" for w in weights)


def normalized_documents_line(numbers: list[int]) -> list[str]:
    """A line naming the documents scored as the tokenizers normalize them (none when there are none)."""
    if not numbers:
        return []
    shown = ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")
    return [
        f"   {plural(len(numbers), 'document')} ({shown}) scored as the tokenizers normalize them, on every side "
        "and per byte of that text: a tokenizer scores the text its normalizer makes, not the one given"
    ]
