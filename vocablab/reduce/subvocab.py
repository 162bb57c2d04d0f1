"""Sub-vocabularies S and the nested tokenizer tau_S of a model (docs/methods.md §4 and §5).

S is a list of byte strings plus special symbols. tau_S re-tokenizes the bytes of each token of the
model's vocabulary V by greedy longest match over S; special tokens map to their own symbol (EOS
to the shared "<eos>" symbol, so that models with different EOS tokens agree on it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import torch

from vocablab.errors import VocabLabError
from vocablab.options import MCV_RULE, McvRule
from vocablab.vocab import ALL_BYTES, Vocabulary, cached_mcv, check_mcv_rule, display_token, greedy_segment

EOS = "<eos>"


@dataclass(frozen=True)
class Symbol:
    """An element of S: a byte string, or a special token's name (text is None then)."""

    data: bytes | None
    special: str | None = None

    def __str__(self) -> str:
        return self.special if self.data is None else display_token(self.data)


@dataclass
class SubVocabulary:
    """S for one model: ``symbols[s]``, and for every model token u its nested pieces ``nested[u]``
    (indices into ``symbols``) and ``first_piece[u]`` (a tensor, for one scatter-add per step)."""

    name: str
    symbols: list[Symbol]
    nested: list[tuple[int, ...]]
    first_piece: torch.Tensor
    eos_symbol: int

    @cached_property
    def lengths(self) -> torch.Tensor:
        """Number of nested pieces of every model token."""
        return torch.tensor([len(p) for p in self.nested], dtype=torch.long)

    @cached_property
    def _flat(self) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.zeros(len(self.nested), dtype=torch.long)
        starts[1:] = self.lengths.cumsum(0)[:-1]
        return torch.tensor([s for p in self.nested for s in p], dtype=torch.long), starts

    def piece(self, tokens: torch.Tensor, n: int) -> torch.Tensor:
        """The n-th nested piece of each of ``tokens`` (each must have more than n pieces)."""
        flat, starts = self._flat
        return flat[starts[tokens] + n]

    @cached_property
    def by_nested(self) -> dict[tuple[int, ...], list[int]]:
        """Model tokens by their nested pieces."""
        out: dict[tuple[int, ...], list[int]] = {}
        for token, pieces in enumerate(self.nested):
            out.setdefault(pieces, []).append(token)
        return out

    @cached_property
    def index(self) -> dict[Symbol, int]:
        return {s: i for i, s in enumerate(self.symbols)}

    def text(self, pieces: list[int]) -> bytes:
        return b"".join(self.symbols[s].data or b"" for s in pieces)

    @cached_property
    def token_bytes(self) -> list[bytes | None]:
        """The bytes each model token spells (None for specials)."""
        return [None if any(self.symbols[s].data is None for s in p) else self.text(list(p)) for p in self.nested]

    @cached_property
    def _by_first_byte(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for token, data in enumerate(self.token_bytes):
            if data:
                out.setdefault(data[0], []).append(token)
        return out

    def tokens_along(self, data: bytes) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Model tokens whose bytes are a prefix of ``data`` (``data`` itself included); the ids of
        those whose bytes run past its end, ``data`` being their prefix; and for each of these, tau_S
        of the bytes past the end (a row of symbol ids, padded with -1). Cached per ``data``: the
        end of a prompt is conditioned on again at every generation."""
        if data not in self._along:
            within, beyond = [], []
            for token in self._by_first_byte.get(data[0], ()):
                piece = self.token_bytes[token]
                if data.startswith(piece):
                    within.append(token)
                elif piece.startswith(data):
                    beyond.append(token)
            rows = [self.segment(self.token_bytes[u][len(data) :]) for u in beyond]
            width = max(map(len, rows), default=0)
            pending = torch.tensor([row + [-1] * (width - len(row)) for row in rows], dtype=torch.long)
            self._along[data] = (within, torch.tensor(beyond, dtype=torch.long), pending.reshape(len(rows), width))
        return self._along[data]

    @cached_property
    def _along(self) -> dict[bytes, tuple[list[int], torch.Tensor, torch.Tensor]]:
        return {}

    @cached_property
    def _text_symbols(self) -> dict[bytes, int]:
        return {s.data: i for i, s in enumerate(self.symbols) if s.data is not None}

    def segment(self, data: bytes) -> list[int]:
        """tau_S of arbitrary bytes (greedy longest match), as symbol indices."""
        allowed = self._text_symbols
        return [allowed[p] for p in greedy_segment(data, allowed.keys(), self._longest)]

    @cached_property
    def _longest(self) -> int:
        return max(map(len, self._text_symbols))


@lru_cache(maxsize=16)
def build_subvocabulary(vocab: Vocabulary, allowed: frozenset[bytes], name: str) -> SubVocabulary:
    """Nest ``vocab`` in the byte strings ``allowed``: they must hold every byte the vocabulary's
    tokens use. Unused byte strings are dropped (they could never be produced)."""
    used_bytes = {bytes([b]) for piece in vocab.byte_set for b in piece}
    missing = used_bytes - set(allowed)
    if missing:
        shown = ", ".join(display_token(b) for b in sorted(missing)[:8])
        raise VocabLabError(
            f"the sub-vocabulary lacks {len(missing)} single bytes the model's tokens use ({shown}); "
            "add all single bytes (for example with the bytes or maxlen:N sub-vocabularies)"
        )
    max_len = max(map(len, allowed))
    symbols: list[Symbol] = []
    index: dict[Symbol, int] = {}

    def symbol_id(symbol: Symbol) -> int:
        if symbol not in index:
            index[symbol] = len(symbols)
            symbols.append(symbol)
        return index[symbol]

    eos_symbol = symbol_id(Symbol(None, EOS))
    stop_ids = vocab.stop_ids
    nested: list[tuple[int, ...]] = []
    for token, piece in enumerate(vocab.pieces):
        if piece is None:  # special (or an unused id): its own symbol; every end id shares EOS's
            label = EOS if token in stop_ids else (vocab.strings[token] or f"<unused {token}>")
            nested.append((symbol_id(Symbol(None, label)),))
        elif not piece:
            nested.append((symbol_id(Symbol(None, f"<empty {token}>")),))
        else:
            nested.append(tuple(symbol_id(Symbol(p)) for p in greedy_segment(piece, allowed, max_len)))
    first = torch.tensor([pieces[0] for pieces in nested], dtype=torch.long)
    return SubVocabulary(name, symbols, nested, first, eos_symbol)


def bytes_only(vocab: Vocabulary) -> SubVocabulary:
    return build_subvocabulary(vocab, ALL_BYTES, "bytes")


def max_length(vocab: Vocabulary, n: int) -> SubVocabulary:
    if n < 1:
        raise VocabLabError("maxlen:N needs a whole number N of at least 1")
    return build_subvocabulary(vocab, ALL_BYTES | {p for p in vocab.byte_set if len(p) <= n}, f"maxlen:{n}")


def common_with(vocab: Vocabulary, other: Vocabulary, rule: McvRule = MCV_RULE) -> SubVocabulary:
    """The MCV of ``vocab`` and ``other`` under ``rule`` (docs/methods.md §5), as ``vocab``'s S."""
    check_mcv_rule(rule)
    return build_subvocabulary(vocab, cached_mcv(vocab, other, rule), mcv_name(f"mcv:{other.name}", rule))


def mcv_name(name: str, rule: McvRule) -> str:
    """How an MCV is named in results: the default rule goes unsaid."""
    return name if rule == MCV_RULE else f"{name} ({rule})"


def from_file(vocab: Vocabulary, path: str | Path) -> SubVocabulary:
    """A user's list: one token per line, as the model's vocabulary spells it (e.g. "Ġthe"), or
    as text with escapes (\\n, \\t, \\s for a space). Every single byte is added."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabLabError(f"cannot read the sub-vocabulary file {path}: {exc}") from exc
    by_string = {s: i for i, s in enumerate(vocab.strings) if s is not None}
    allowed, unknown = set(ALL_BYTES), []
    for line in filter(None, (raw.rstrip("\r") for raw in lines)):
        if line in by_string and vocab.pieces[by_string[line]] is not None:
            allowed.add(vocab.pieces[by_string[line]])
            continue
        data = line.replace("\\s", " ").replace("\\n", "\n").replace("\\t", "\t").encode("utf-8")
        if data in vocab.byte_set:
            allowed.add(data)
        else:
            unknown.append(line)
    if unknown:
        raise VocabLabError(
            f"{len(unknown)} entries of {path} are not tokens of {vocab.name}: {', '.join(unknown[:8])}"
        )
    return build_subvocabulary(vocab, frozenset(allowed), f"file:{Path(path).name}")


def parse_subvocab(spec: str, vocab: Vocabulary, load_other=None, mcv_rule: McvRule = MCV_RULE) -> SubVocabulary:
    """``bytes``, ``maxlen:N``, ``mcv:OTHER`` (OTHER is any model source; its MCV with ``vocab``
    under ``mcv_rule``) or ``file:PATH``."""
    kind, _, arg = spec.partition(":")
    if kind == "bytes" and not arg:
        return bytes_only(vocab)
    if kind == "maxlen" and arg.removeprefix("-").isdigit():
        return max_length(vocab, int(arg))
    if kind == "mcv" and arg:
        if load_other is None:
            from vocablab.sources import load_vocabulary as load_other
        return common_with(vocab, load_other(arg), mcv_rule)
    if kind == "file" and arg:
        return from_file(vocab, arg)
    raise VocabLabError(f"unknown sub-vocabulary {spec!r}; use bytes, maxlen:N, mcv:OTHER or file:PATH")


# Decoder components under which the text is the concatenation of each token's own bytes (what the
# byte view reads from the token strings): why each other kind is not, for the refusal's message.
PER_TOKEN_DECODERS = {"ByteLevel", "ByteFallback", "Fuse", "Metaspace"}
JOINING_DECODERS = {
    "WordPiece": "puts a space between two tokens unless the second starts with ##",
    "BPEDecoder": "turns a token's end-of-word suffix into a space, except on the last token",
    "CTC": "drops a token that repeats the one before it",
}


def check_reducible(vocab: Vocabulary) -> None:
    """Reduction re-spells the model's tokens and never touches decoding, so it is exact whenever the
    text of a token sequence is the concatenation of its tokens' bytes. A normalizer does not matter
    here (it only rewrites text being encoded: see :func:`vocablab.reduce.prompt.split_prompt` and
    :mod:`vocablab.reduce.score`); a decoder whose output for a token depends on its neighbours does."""
    decoder = vocab.backend.decoder
    if decoder is None:  # the tokenizers library joins the token strings with spaces
        raise VocabLabError(
            f"{vocab.name} cannot be reduced: its tokenizer has no decoder, so its text puts a space between "
            "every two tokens and is not the concatenation of their bytes"
        )
    state = json.loads(decoder.__getstate__())
    for step in state["decoders"] if state["type"] == "Sequence" else [state]:
        kind = step["type"]
        if kind in PER_TOKEN_DECODERS or _spells_spaces(step) or _strips_dummy_prefix(step):
            continue
        if kind in JOINING_DECODERS:
            raise VocabLabError(
                f"{vocab.name} cannot be reduced: its decoder's {kind} step {JOINING_DECODERS[kind]}, so its text "
                "is not the concatenation of its tokens' own bytes, which reduction re-spells"
            )
        raise VocabLabError(
            f"{vocab.name} cannot be reduced: its decoder has a {kind} step ({ascii(step)[:120]}), and the text of "
            "its tokens is read only through ByteLevel, ByteFallback, Fuse, Metaspace, a Replace of the word "
            "marker and a Strip of the dummy-prefix space"
        )


def _spells_spaces(step: dict) -> bool:
    """SentencePiece's "▁" written back as a space (the byte view does the same)."""
    return step["type"] == "Replace" and step.get("pattern") == {"String": "▁"} and step.get("content") == " "


def _strips_dummy_prefix(step: dict) -> bool:
    """Llama 2 and Mistral take off the one space their normalizer put in front (``Vocabulary.dummy_prefix``)."""
    return step["type"] == "Strip" and step.get("content") == " " and step.get("start", 0) <= 1 and not step.get("stop")
