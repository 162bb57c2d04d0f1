"""Which donor tokens the base model already has, and which are new (docs/methods.md §3).

Text tokens, by mode:
- "bytes" (the default): two tokens are the same iff their UTF-8 bytes are equal (the byte view,
  §1), whatever their strings look like: SmolLM2's "Ċ" is a newline and matches Gemma's "\\n", not
  Gemma's "Ċ" (the character U+010A). Among several base ids with those bytes (a byte-fallback
  piece "<0x09>" and the token "\\t"), the id the base tokenizer itself produces for them wins.
  Among several donor ids with the same bytes, only the one the donor tokenizer produces copies a
  row; the others (Gemma's "<0x41>" beside "A") are aliases it never emits, and are new. Copying
  the row of "A" to both would give the alias the same logit in the output head, so every single
  character would lose half its probability to a token the donor never uses.
- "string": mergekit-tokensurgeon's rule. Each tokenizer has one word-start marker ("Ġ" for
  byte-level BPE, "▁" for SentencePiece); a token that starts with it is compared as (word start,
  rest of the string), any other token as its raw string. Strings, not bytes, so a byte-level
  "Ċ" still meets a SentencePiece "Ċ".

Special tokens, in both modes: by every role the donor token holds, eos first (SmolLM2's
"<|im_end|>" is its eos and its pad: it must get the base's eos row, or the transplanted model
cannot stop); a donor end-of-turn token gets the base's end-of-turn token; then a special token
of the same name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vocablab.options import MATCH_MODES, MatchMode
from vocablab.vocab import Vocabulary

ROLE_ORDER = ("eos", "bos", "pad", "unk")
BYTE_FALLBACK = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


@dataclass
class TokenMatch:
    """For each donor id (0 .. len(donor) - 1): the base id it copies, or -1 when it is new."""

    base_id: list[int]
    kind: list[str]  # "exact", "bytes", "special", "new" or "absent" (an id the donor never uses)

    def counts(self) -> dict[str, int]:
        out = {name: 0 for name in ("exact", "bytes", "special", "new", "absent")}
        for kind in self.kind:
            out[kind] += 1
        return out

    @property
    def new_donor_ids(self) -> list[int]:
        return [i for i, kind in enumerate(self.kind) if kind == "new"]

    def unmatch(self, donor_ids: list[int]) -> None:
        """Make these donor tokens new (their base id has no row to copy)."""
        for i in donor_ids:
            self.base_id[i], self.kind[i] = -1, "new"


def special_match(base: Vocabulary, donor: Vocabulary, donor_id: int) -> int | None:
    """The base id a donor special token takes: by role (eos first), end of turn, then name."""
    for role in ROLE_ORDER:
        if donor.roles.get(role) == donor_id and base.roles.get(role) is not None:
            return base.roles[role]
    if donor_id == donor.end_of_turn_id and base.end_of_turn_id is not None:
        return base.end_of_turn_id
    same_name = base.id_of_string.get(donor.strings[donor_id])
    return same_name if same_name in base.special_ids else None


def produced_id(vocab: Vocabulary, piece: bytes, candidates: list[int]) -> int:
    """Of several ids with the bytes ``piece``, the one the tokenizer produces for them; failing
    that (bytes that are no whole text), a real token before a byte-fallback piece."""
    if len(candidates) == 1:
        return candidates[0]
    try:
        ids = vocab.encode(piece.decode("utf-8"))
    except UnicodeDecodeError:
        ids = []
    if len(ids) == 1 and ids[0] in candidates:
        return ids[0]
    return min(candidates, key=lambda i: (bool(BYTE_FALLBACK.match(vocab.strings[i])), i))


def produced_ids(vocab: Vocabulary) -> dict[bytes, int]:
    """Each byte string of the vocabulary to the one id the tokenizer produces for it."""
    return {piece: produced_id(vocab, piece, ids) for piece, ids in vocab.ids_by_bytes().items()}


def string_key(vocab: Vocabulary, idx: int) -> tuple[bool, str]:
    """mergekit's normalized form of a token: (starts a word, the string without the marker)."""
    token, marker = vocab.strings[idx], vocab.word_start_marker
    return (True, token[len(marker) :]) if token.startswith(marker) else (False, token)


def match_tokens(base: Vocabulary, donor: Vocabulary, mode: MatchMode = "bytes") -> TokenMatch:
    """Match every donor token to a base token, or mark it new."""
    if mode not in MATCH_MODES:
        raise ValueError(f"unknown matching mode {mode!r}; use one of {MATCH_MODES}")
    aliases: set[int] = set()
    if mode == "bytes":
        table = produced_ids(base)
        key_of = donor.pieces.__getitem__
        aliases = set(donor.text_ids) - set(produced_ids(donor).values())
    else:
        table = {}
        for i in base.text_ids:
            table.setdefault(string_key(base, i), i)
        key_of = lambda i: string_key(donor, i)  # noqa: E731

    base_id = [-1] * len(donor)
    kind = ["absent"] * len(donor)
    for i, token in enumerate(donor.strings):
        if token is None:
            continue
        if i in donor.special_ids:
            target = special_match(base, donor, i)
            base_id[i], kind[i] = (target, "special") if target is not None else (-1, "new")
        elif i not in aliases and (found := table.get(key_of(i))) is not None:
            base_id[i] = found
            kind[i] = "bytes" if mode == "bytes" and base.strings[found] != token else "exact"
        else:
            kind[i] = "new"
    return TokenMatch(base_id, kind)
