"""Token ids as a copyable array, and back: ids pasted in any common form decoded to text by a tokenizer.

>>> from vocablab import load_vocabulary
>>> parse_ids("[15496, 11, 995]")
[15496, 11, 995]
>>> decode_ids(load_vocabulary("gpt2"), [15496, 11, 995]).text
'Hello, world'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vocablab.errors import VocabLabError
from vocablab.options import check_length
from vocablab.vocab import Vocabulary

ID_SEPARATORS = re.compile(r"[\s,;]+")  # "[1, 2]", "1 2", one id a line: as lists are copied from anywhere


def format_ids(ids: list[int]) -> str:
    """The ids as a JSON and Python list, ready to paste into code: ``[128000, 791]``."""
    return "[" + ", ".join(str(i) for i in ids) + "]"


def parse_ids(text: str) -> list[int]:
    """Token ids from a list as it is copied: brackets optional, separated by commas, spaces or lines."""
    check_length(text or "", what="list of ids")
    inner = (text or "").strip()
    if inner[:1] in "[(" and inner[-1:] in "])":
        inner = inner[1:-1]
    items = [item for item in ID_SEPARATORS.split(inner) if item]
    if not items:
        raise VocabLabError("no token ids to decode: paste a list such as [128000, 791, 6864]")
    ids = []
    for n, item in enumerate(items, 1):
        if not re.fullmatch(r"[+-]?\d+", item):
            raise VocabLabError(f"item {n} of the list, {item[:40]!r}, is not a token id: ids are whole numbers")
        ids.append(int(item))
    return ids


@dataclass
class DecodedIds:
    name: str
    ids: list[int]
    text: str  # what the tokenizer decodes them to, special tokens included
    tokens: list[str]  # each id's token as the vocabulary spells it

    def to_dict(self) -> dict:
        return {"name": self.name, "ids": self.ids, "text": self.text, "tokens": self.tokens}


def check_ids(vocab: Vocabulary, ids: list[int]) -> None:
    """Refuse an id the tokenizer does not have, naming it and the vocabulary's size."""
    for n, idx in enumerate(ids, 1):
        if not 0 <= idx < len(vocab):
            raise VocabLabError(
                f"id {idx} (item {n}) is not in {vocab.name}'s vocabulary of {len(vocab):,} ids "
                f"(0 to {len(vocab) - 1:,})"
            )
        if vocab.strings[idx] is None:
            raise VocabLabError(f"id {idx} (item {n}) is a gap in {vocab.name}'s vocabulary: no token has it")


def decode_ids(vocab: Vocabulary, ids: list[int]) -> DecodedIds:
    """The text ``ids`` stand for in ``vocab``, special tokens written out."""
    check_ids(vocab, ids)
    return DecodedIds(vocab.name, list(ids), vocab.decode(ids), [vocab.strings[i] or "" for i in ids])
