"""Which donor tokens the base model already has, and which are new.

Modes (docs/methods.md §3):
- "string": the reference tool's behaviour: the same token string, where a leading "Ġ" or "▁"
  word-start marker counts as the same marker;
- "bytes": additionally, the same bytes under the byte view (section 1), so "Ġthe" == "▁the".
Special tokens are matched by role (bos, eos, pad, unk), then by identical name.
"""

from __future__ import annotations

from dataclasses import dataclass

from vocablab.options import MATCH_MODES, MatchMode
from vocablab.vocab import ROLES, WORD_START_MARKERS, Vocabulary


def marker_key(token: str) -> str:
    """A token string with its word-start marker made uniform ("Ġthe" and "▁the" both "▁the")."""
    for marker in WORD_START_MARKERS:
        if token.startswith(marker):
            return "▁" + token[len(marker) :]
    return token


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
    def shared_donor_ids(self) -> list[int]:
        return [i for i, b in enumerate(self.base_id) if b >= 0]

    @property
    def new_donor_ids(self) -> list[int]:
        return [i for i, kind in enumerate(self.kind) if kind == "new"]


def match_tokens(base: Vocabulary, donor: Vocabulary, mode: MatchMode = "bytes") -> TokenMatch:
    """Match every donor token to a base token, or mark it new."""
    if mode not in MATCH_MODES:
        raise ValueError(f"unknown matching mode {mode!r}; use one of {MATCH_MODES}")
    base_by_string = {base.strings[i]: i for i in range(len(base)) if base.strings[i] is not None}
    base_by_key: dict[str, int] = {}
    for i in base.text_ids:
        base_by_key.setdefault(marker_key(base.strings[i]), i)
    base_by_bytes = {piece: ids[0] for piece, ids in base.ids_by_bytes().items()}
    role_of = {idx: role for role, idx in donor.roles.items()}

    base_id = [-1] * len(donor)
    kind = ["absent"] * len(donor)
    for i, token in enumerate(donor.strings):
        if token is None:
            continue
        if i in donor.special_ids:
            role = role_of.get(i)
            target = base.roles.get(role) if role in ROLES else None
            if target is None and token in base_by_string and base_by_string[token] in base.special_ids:
                target = base_by_string[token]
            base_id[i], kind[i] = (target, "special") if target is not None else (-1, "new")
            continue
        if token in base_by_string and base.pieces[base_by_string[token]] is not None:
            base_id[i], kind[i] = base_by_string[token], "exact"
        elif marker_key(token) in base_by_key:
            base_id[i], kind[i] = base_by_key[marker_key(token)], "exact"
        elif mode == "bytes" and donor.pieces[i] in base_by_bytes:
            base_id[i], kind[i] = base_by_bytes[donor.pieces[i]], "bytes"
        else:
            kind[i] = "new"
    return TokenMatch(base_id, kind)
