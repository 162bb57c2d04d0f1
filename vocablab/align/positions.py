"""Which position of model A's token sequence goes with which position of model B's.

A position is the moment after a model has read its start token and its first i text tokens; what
it predicts there is the next token. ``ends[i]`` is how many bytes of the text it has read then.

- "bytes": pair positions where both models have read exactly the same bytes of text, so both
  predict a continuation of the same prefix (the sound way to compare across tokenizers);
- "index": pair the i-th position of A with the i-th of B, whatever text each has read (what the
  ULD paper's code does; the prefixes drift apart as soon as the tokenizers split differently).
Only positions where both models still have a next token in the text are paired.
"""

from __future__ import annotations

from dataclasses import dataclass

from vocablab.options import Alignment


@dataclass(frozen=True)
class PositionPair:
    index_a: int  # position in A's sequence (0: after the start token only)
    index_b: int
    byte_a: int  # bytes of text A has read at this position
    byte_b: int


def align_positions(ends_a: list[int], ends_b: list[int], alignment: Alignment) -> list[PositionPair]:
    """Pair positions of two sequences given the bytes read at each (``ends[0] == 0``).

    The last position of each sequence has no next token in the text and is never paired.
    """
    if alignment == "index":
        n = min(len(ends_a), len(ends_b)) - 1
        return [PositionPair(i, i, ends_a[i], ends_b[i]) for i in range(n)]
    if alignment != "bytes":
        raise ValueError(f"unknown alignment {alignment!r}")
    # the last position at each byte offset: zero-length tokens (specials) read no text
    last_a = {end: i for i, end in enumerate(ends_a[:-1])}
    last_b = {end: i for i, end in enumerate(ends_b[:-1])}
    return [PositionPair(last_a[e], last_b[e], e, e) for e in sorted(last_a.keys() & last_b.keys())]
