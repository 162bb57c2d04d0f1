"""A BPE tokenizer's merges in bytes, and that tokenizer restricted to a sub-vocabulary.

The restricted tokenizer is what the merge-closed MCV rule (docs/methods.md §5) checks: a BPE model
whose merges may only build strings of a set S. Everything here works on byte strings, so two
models that spell the same bytes differently ("Ġthe", "▁the") meet; this module imports nothing of
vocablab but its error type, so :mod:`vocablab.vocab` can build the table without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from vocablab.errors import VocabLabError


@dataclass(frozen=True)
class MergeTable:
    """``ranks[(left, right)]``: the priority of the merge of two adjacent byte strings (lower first).

    ``byte_level`` models (GPT-2, Llama 3, Qwen) start from single bytes; the others (SentencePiece
    BPE: Gemma, Mistral) start from the characters their vocabulary holds (``char_units``), and a
    character it lacks falls back to its bytes. ``literal`` are added tokens, matched whole in the
    text before BPE runs, so no merge builds them.
    """

    ranks: dict[tuple[bytes, bytes], int]
    byte_level: bool
    char_units: frozenset[bytes]
    literal: frozenset[bytes]

    @classmethod
    def from_model(
        cls,
        model: dict,
        to_bytes: Callable[[str], bytes],
        byte_level: bool,
        literal: Collection[bytes] = (),
    ) -> MergeTable:
        """From the ``model`` object of a tokenizer.json; ``to_bytes`` maps a token string to bytes."""
        if model.get("type") != "BPE":
            raise VocabLabError(
                f"the merge-closed MCV rule needs BPE merges, and this tokenizer's model is {model.get('type')}; "
                "use the shared rule"
            )
        ranks: dict[tuple[bytes, bytes], int] = {}
        for rank, merge in enumerate(model.get("merges", [])):
            left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
            ranks.setdefault((to_bytes(left), to_bytes(right)), rank)
        chars = frozenset(to_bytes(t) for t in model.get("vocab", {}) if len(t) == 1)
        return cls(ranks, byte_level, chars, frozenset(literal))

    def units(self, piece: bytes, allowed: Collection[bytes], looked: set[bytes] | None = None) -> list[bytes]:
        """The symbols BPE starts from on ``piece`` when only ``allowed`` strings may be symbols
        (``looked`` collects the strings whose membership of ``allowed`` was asked)."""
        if self.byte_level:
            return [piece[i : i + 1] for i in range(len(piece))]
        try:
            chars = [c.encode("utf-8") for c in piece.decode("utf-8")]
        except UnicodeDecodeError:  # a cut character: only byte fallback spells it
            return [piece[i : i + 1] for i in range(len(piece))]
        out: list[bytes] = []
        for char in chars:
            if len(char) > 1 and looked is not None:
                looked.add(char)
            whole = char in self.char_units and (len(char) == 1 or char in allowed)
            out += [char] if whole else [char[i : i + 1] for i in range(len(char))]
        return out

    def restricted(self, piece: bytes, allowed: Collection[bytes], looked: set[bytes] | None = None) -> list[bytes]:
        """BPE on ``piece`` alone with only the merges whose result is in ``allowed``: the lowest
        rank first, the leftmost of equal ranks first (as the tokenizers library does)."""
        symbols = self.units(piece, allowed, looked)
        ranks = self.ranks
        while len(symbols) > 1:
            best, at = None, -1
            for i in range(len(symbols) - 1):
                rank = ranks.get((symbols[i], symbols[i + 1]))
                if rank is None or (best is not None and rank >= best):
                    continue
                merged = symbols[i] + symbols[i + 1]
                if looked is not None:
                    looked.add(merged)
                if merged in allowed:
                    best, at = rank, i
            if best is None:
                break
            symbols[at : at + 2] = [symbols[at] + symbols[at + 1]]
        return symbols

    def rebuilds(self, piece: bytes, allowed: Collection[bytes], looked: set[bytes] | None = None) -> bool:
        """Whether the tokenizer restricted to ``allowed`` keeps ``piece`` whole."""
        return piece in self.literal or self.restricted(piece, allowed, looked) == [piece]


def merge_closed(tables: list[MergeTable], candidates: Collection[bytes]) -> frozenset[bytes]:
    """The candidates every table's restricted tokenizer rebuilds, pruned until none is dropped.

    Dropping a string removes the merges that build it, which can break others, so the strings
    whose check asked about a dropped one are checked again, until nothing is dropped. Single bytes
    always stay (every text must stay spellable).
    """
    kept = set(candidates)
    readers: dict[bytes, list[bytes]] = {}  # a string -> the candidates whose check asked about it
    to_check = [s for s in kept if len(s) > 1]
    while to_check:
        dropped = set()
        for piece in to_check:
            looked: set[bytes] = set()
            if not all(table.rebuilds(piece, kept, looked) for table in tables):
                dropped.add(piece)
            for string in looked:
                readers.setdefault(string, []).append(piece)
        kept -= dropped
        to_check = list({r for d in dropped for r in readers.pop(d, ()) if r in kept})
    return frozenset(kept)
