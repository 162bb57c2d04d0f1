"""The byte view of a vocabulary, vocabulary overlap and the maximal common vocabulary.

Every token id maps to the exact bytes it contributes to decoded text, or to ``None`` when it is
a special/control token (docs/methods.md §1). Two tokens of different tokenizers are the same
iff their byte strings are equal and neither is special.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from vocablab.bpe import MergeTable, merge_closed
from vocablab.errors import VocabLabError
from vocablab.options import MCV_RULE, MCV_RULES, McvRule

if TYPE_CHECKING:
    from tokenizers import Tokenizer

ROLES = ("bos", "eos", "pad", "unk")
END_OF_TURN = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>", "<|endofturn|>")  # chat turn ends
BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
WORD_START_MARKERS = ("Ġ", "▁")
INVISIBLE = {"Zs", "Zl", "Zp", "Cc", "Cf"}


@lru_cache(maxsize=1)
def gpt2_unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's byte-to-unicode alphabet: printable bytes stand for themselves, the
    other 68 bytes are shifted to code points 256 and up ("Ġ" is the space, "Ċ" the newline)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    mapping = {chr(b): b for b in printable}
    shifted = 0
    for b in range(256):
        if b not in printable:
            mapping[chr(256 + shifted)] = b
            shifted += 1
    return mapping


def _decoder_kinds(decoder: dict | None) -> set[str]:
    """The decoder component types of a tokenizer.json, flattened (Sequence is opened)."""
    if not decoder:
        return set()
    if decoder.get("type") == "Sequence":
        kinds: set[str] = set()
        for part in decoder.get("decoders", []):
            kinds |= _decoder_kinds(part)
        return kinds
    kind = decoder["type"]
    if kind == "Replace" and decoder.get("pattern", {}).get("String") == "▁":
        return {"Metaspace"}
    return {kind}


def piece_to_bytes(token: str, decoder_kinds: set[str]) -> bytes:
    """The bytes one (non-special) token string contributes to decoded text."""
    if "ByteLevel" in decoder_kinds:
        alphabet = gpt2_unicode_to_byte()
        out = bytearray()
        for ch in token:
            if ch in alphabet:
                out.append(alphabet[ch])
            else:  # added tokens may hold characters outside the byte alphabet
                out += ch.encode("utf-8")
        return bytes(out)
    if "ByteFallback" in decoder_kinds:
        match = BYTE_FALLBACK.match(token)
        if match:
            return bytes([int(match.group(1), 16)])
    if "Metaspace" in decoder_kinds:
        token = token.replace("▁", " ")
    if "WordPiece" in decoder_kinds and token.startswith("##"):
        token = token[2:]
    return token.encode("utf-8")


@dataclass(eq=False)
class Vocabulary:
    """A tokenizer seen as bytes: ``pieces[id]`` is the token's bytes, or None for specials.

    ``dummy_prefix`` is True for tokenizers that add a space ("▁") in front of the text when
    encoding (Llama-2, Mistral); that space is part of how they encode, not of the user's text.
    """

    name: str
    backend: Tokenizer
    pieces: list[bytes | None]
    strings: list[str | None]
    special_ids: frozenset[int]
    roles: dict[str, int]
    dummy_prefix: bool
    chat_template: str | None = None
    decoder_kinds: frozenset[str] = frozenset()  # the decoder's components: ByteLevel, Metaspace, ...
    chat_renderer: Any = field(default=None, repr=False)  # the transformers tokenizer: apply_chat_template
    declared_ends: frozenset[int] = frozenset()  # eos ids of the model's generation_config.json
    _ids_by_bytes: dict[bytes, list[int]] | None = field(default=None, repr=False)

    @classmethod
    def from_backend(
        cls,
        backend: Tokenizer,
        name: str,
        roles: dict[str, int] | None = None,
        chat_template: str | None = None,
    ) -> Vocabulary:
        """Build the byte view from a ``tokenizers.Tokenizer`` (what every fast tokenizer wraps)."""
        decoder = backend.decoder
        kinds = _decoder_kinds(json.loads(decoder.__getstate__()) if decoder is not None else None)
        size = max(backend.get_vocab_size(with_added_tokens=True), 1)
        vocab = backend.get_vocab(with_added_tokens=True)
        size = max(size, max(vocab.values(), default=-1) + 1)
        strings: list[str | None] = [None] * size
        for token, idx in vocab.items():
            strings[idx] = token
        special = {idx for idx, tok in backend.get_added_tokens_decoder().items() if tok.special}
        pieces: list[bytes | None] = [None] * size
        model_vocab = backend.get_vocab(with_added_tokens=False)
        added = backend.get_added_tokens_decoder()
        for idx, token in enumerate(strings):
            if token is None or idx in special:
                continue
            if idx in added and token not in model_vocab:
                # Non-special added tokens are matched literally in the input text.
                pieces[idx] = added[idx].content.encode("utf-8")
            else:
                pieces[idx] = piece_to_bytes(token, kinds)
        vocabulary = cls(
            name=name,
            backend=backend,
            pieces=pieces,
            strings=strings,
            special_ids=frozenset(special),
            roles={role: i for role, i in (roles or {}).items() if i is not None and i < size},
            dummy_prefix=False,
            chat_template=chat_template,
            decoder_kinds=frozenset(kinds),
        )
        vocabulary.dummy_prefix = vocabulary._concat(vocabulary.encode("a")) == b" a"
        return vocabulary

    def __len__(self) -> int:
        return len(self.pieces)

    def __repr__(self) -> str:
        return f"Vocabulary({self.name!r}, {len(self)} ids)"

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without BOS/EOS (special tokens typed in the text still match)."""
        try:
            return self.backend.encode(text, add_special_tokens=False).ids
        except TypeError:  # lone surrogates: bytes that were not UTF-8 (a command line's surrogateescape)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise VocabLabError(
                    f"the text is not valid UTF-8 (at character {exc.start}); give it as UTF-8 "
                    "(a generation prompt may end in a cut character only when it is healed)"
                ) from None
            raise

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode(ids, skip_special_tokens=False)

    def display_bytes(self, idx: int) -> bytes:
        """Bytes of a token as it stands in text; specials give their own name."""
        piece = self.pieces[idx]
        if piece is not None:
            return piece
        return (self.strings[idx] or "").encode("utf-8")

    def _concat(self, ids: list[int]) -> bytes:
        return b"".join(self.display_bytes(i) for i in ids)

    def text_bytes(self, ids: list[int]) -> bytes:
        """The text bytes a sequence of ids stands for, with the dummy-prefix space removed."""
        data = self._concat(ids)
        if self.dummy_prefix and data.startswith(b" "):
            data = data[1:]
        return data

    def byte_spans(self, ids: list[int]) -> list[tuple[int, int]]:
        """[start, end) byte offsets of each token in the text (dummy-prefix space removed)."""
        spans = []
        offset = -1 if self.dummy_prefix and ids and self._concat(ids[:1]).startswith(b" ") else 0
        for idx in ids:
            end = offset + len(self.display_bytes(idx))
            spans.append((max(offset, 0), max(end, 0)))
            offset = end
        return spans

    @property
    def word_start_marker(self) -> str:
        """How token strings mark a word start: "Ġ" (a space in the GPT-2 byte alphabet) for
        byte-level BPE, "▁" for SentencePiece-style vocabularies."""
        return "Ġ" if "ByteLevel" in self.decoder_kinds else "▁"

    @cached_property
    def id_of_string(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.strings) if token is not None}

    @cached_property
    def text_ids(self) -> list[int]:
        return [i for i, piece in enumerate(self.pieces) if piece is not None]

    @cached_property
    def byte_pairs(self) -> frozenset[bytes]:
        """Every two adjacent bytes inside some token: a point of a text between two bytes that
        are not in here lies between tokens in every tokenization of it."""
        return frozenset(piece[i : i + 2] for piece in self.pieces if piece for i in range(len(piece) - 1))

    def ids_by_bytes(self) -> dict[bytes, list[int]]:
        """Byte string to every id with those bytes (SentencePiece vocabularies have duplicates,
        e.g. "<0x41>" and "A")."""
        if self._ids_by_bytes is None:
            table: dict[bytes, list[int]] = {}
            for i in self.text_ids:
                table.setdefault(self.pieces[i], []).append(i)
            self._ids_by_bytes = table
        return self._ids_by_bytes

    @cached_property
    def byte_set(self) -> frozenset[bytes]:
        return frozenset(self.ids_by_bytes())

    @cached_property
    def string_set(self) -> frozenset[str]:
        return frozenset(self.strings[i] for i in self.text_ids)

    def label(self, idx: int) -> str:
        """How a token is shown everywhere (tables, plots, the CLI): its bytes made readable by
        :func:`display_token`, or its name if special; an id past the tokenizer (a padded output
        row, or ULD's zero padding) as ``<row N>``."""
        if not 0 <= idx < len(self):
            return f"<row {idx}>"
        return display_token(self.pieces[idx], self.strings[idx])

    @property
    def start_id(self) -> int:
        """The token a document starts with when scored or generated from: BOS, else EOS."""
        for role in ("bos", "eos"):
            if self.roles.get(role) is not None:
                return self.roles[role]
        raise VocabLabError(f"{self.name} has neither a BOS nor an EOS token to start a document with")

    @property
    def end_of_turn_id(self) -> int | None:
        """The special token that ends a chat turn, if the vocabulary has one of the known names."""
        for name in END_OF_TURN:
            idx = self.id_of_string.get(name)
            if idx is not None and idx in self.special_ids:
                return idx
        return None

    @property
    def stop_ids(self) -> frozenset[int]:
        """Every id that ends a generation: EOS, the end of a chat turn (Gemma's "<end_of_turn>"),
        and the end ids the model's generation_config.json declares (Llama 3 lists three)."""
        ids = {self.roles.get("eos"), self.end_of_turn_id, *self.declared_ends}
        return frozenset(i for i in ids if i is not None and 0 <= i < len(self))

    def role_token(self, role: str) -> str | None:
        idx = self.roles.get(role)
        return None if idx is None else self.strings[idx]


def display_token(piece: bytes | None, special_name: str | None = None) -> str:
    """A token's bytes made readable: whitespace made visible, invalid UTF-8 shown as <0xNN>."""
    if piece is None:
        return special_name or "<special>"
    text = piece.decode("utf-8", errors="backslashreplace")
    text = re.sub(r"\\x([0-9a-f]{2})", lambda m: f"<0x{m.group(1).upper()}>", text)
    text = text.replace(" ", "·").replace("\n", "↵").replace("\t", "→").replace("\r", "␍")
    # other invisible characters (no-break space, zero-width joiner, controls) as code points
    return "".join(f"<U+{ord(c):04X}>" if unicodedata.category(c) in INVISIBLE else c for c in text)


def greedy_segment(piece: bytes, allowed: frozenset[bytes] | set[bytes], max_len: int) -> list[bytes]:
    """Segment ``piece`` by greedy longest match over ``allowed`` (which holds every single byte).

    This is the nested tokenizer tau_S of one token (docs/methods.md §4).
    """
    out = []
    i = 0
    while i < len(piece):
        for length in range(min(max_len, len(piece) - i), 0, -1):
            chunk = piece[i : i + length]
            if chunk in allowed:
                out.append(chunk)
                i += length
                break
        else:
            raise VocabLabError(f"sub-vocabulary lacks the single byte {piece[i : i + 1]!r}")
    return out


ALL_BYTES = frozenset(bytes([b]) for b in range(256))


def check_loaded(vocabs) -> list[Vocabulary]:
    """The vocabularies as a list; this module works on loaded ones only (``vocablab.sources``
    loads them from names, and the public API takes either)."""
    if isinstance(vocabs, (str, Vocabulary)) or not hasattr(vocabs, "__iter__"):
        raise VocabLabError(f"give a list of vocabularies, not a {type(vocabs).__name__}")
    vocabs = list(vocabs)
    for v in vocabs:
        if not isinstance(v, Vocabulary):
            raise VocabLabError(f"give loaded vocabularies here, not a {type(v).__name__} (see load_vocabulary)")
    return vocabs


def maximal_common_vocabulary(vocabs: list[Vocabulary], rule: McvRule = MCV_RULE) -> frozenset[bytes]:
    """The byte strings every vocabulary holds (specials excluded), plus all single bytes; specials
    are matched by role separately (docs/methods.md §5).

    ``rule="shared"`` keeps every such string: each is a token of every model, so each model's
    nested tokenizer (greedy longest match) keeps it whole. ``rule="merge-closed"`` keeps only those
    each model's BPE, with its merges restricted to the set, rebuilds (:func:`merge_table`).
    """
    vocabs = check_loaded(vocabs)
    if not vocabs:
        raise VocabLabError("give at least one vocabulary")
    check_mcv_rule(rule)
    shared = ALL_BYTES | frozenset.intersection(*[v.byte_set for v in vocabs])
    if rule == "shared":
        return shared
    return merge_closed([merge_table(v) for v in vocabs], shared)


def check_mcv_rule(rule: str) -> None:
    if rule not in MCV_RULES:
        raise VocabLabError(f"unknown MCV rule {rule!r}; use {' or '.join(MCV_RULES)}")


@lru_cache(maxsize=8)
def merge_table(vocab: Vocabulary) -> MergeTable:
    """The BPE merges of ``vocab`` in bytes (refused, naming the model type, if it is not BPE)."""
    try:
        model = json.loads(vocab.backend.to_str())["model"]
        return MergeTable.from_model(
            model,
            lambda token: piece_to_bytes(token, set(vocab.decoder_kinds)),
            "ByteLevel" in vocab.decoder_kinds,
            literal={vocab.pieces[i] for i in vocab.text_ids if vocab.strings[i] not in model.get("vocab", {})},
        )
    except VocabLabError as exc:
        raise VocabLabError(f"{vocab.name}: {exc}") from None


def strip_word_marker(token: str) -> str:
    """The reference tool's string matching: drop a leading "Ġ" or "▁" word-start marker."""
    for marker in WORD_START_MARKERS:
        if token.startswith(marker):
            return token[len(marker) :]
    return token


@dataclass
class PairOverlap:
    """How two vocabularies overlap; every count excludes special tokens."""

    a: str
    b: str
    shared_by_string: int
    shared_by_bytes: int
    only_a_by_bytes: int
    only_b_by_bytes: int
    mcv_size: int  # under ``mcv_rule``
    special_roles: dict[str, tuple[str | None, str | None]]
    mcv_rule: str = MCV_RULE


@dataclass
class VocabOverlap:
    """Sizes of two or more vocabularies and their pairwise overlaps."""

    names: list[str]
    sizes: dict[str, int]
    text_tokens: dict[str, int]
    distinct_bytes: dict[str, int]
    special_counts: dict[str, int]
    pairs: list[PairOverlap]
    common_to_all_by_string: int
    common_to_all_by_bytes: int
    mcv_size: int
    mcv_rule: str = MCV_RULE

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    def lines(self) -> list[str]:
        """A line per pair of vocabularies, and one per special-token role they have."""
        out = []
        for p in self.pairs:
            out.append(
                f"== overlap {p.a} ({self.sizes[p.a]:,}) vs {p.b} ({self.sizes[p.b]:,}): "
                f"shared by string {p.shared_by_string:,}, by bytes {p.shared_by_bytes:,}, "
                f"only in first {p.only_a_by_bytes:,}, only in second {p.only_b_by_bytes:,}, "
                f"MCV {p.mcv_size:,} ({p.mcv_rule} rule)"
            )
            out.extend(f"   {role}: {a} / {b}" for role, (a, b) in p.special_roles.items())
        return out


def compare_vocabularies(vocabs: list[Vocabulary], mcv_rule: McvRule = MCV_RULE) -> VocabOverlap:
    """Sizes, shared tokens by string and by bytes, the MCV under ``mcv_rule`` and the special
    tokens by role (the work is cached per set of vocabularies; each call returns its own copy)."""
    vocabs = check_loaded(vocabs)
    if len(vocabs) < 2:
        raise VocabLabError("compare needs at least two tokenizers")
    check_mcv_rule(mcv_rule)
    return copy.deepcopy(_compare_vocabularies(tuple(vocabs), mcv_rule))


@lru_cache(maxsize=32)
def _compare_vocabularies(vocabs: tuple[Vocabulary, ...], mcv_rule: McvRule) -> VocabOverlap:
    pairs = []
    for i, a in enumerate(vocabs):
        for b in vocabs[i + 1 :]:
            a_bytes, b_bytes = a.byte_set, b.byte_set
            pairs.append(
                PairOverlap(
                    a=a.name,
                    b=b.name,
                    shared_by_string=len(a.string_set & b.string_set),
                    shared_by_bytes=len(a_bytes & b_bytes),
                    only_a_by_bytes=len(a_bytes - b_bytes),
                    only_b_by_bytes=len(b_bytes - a_bytes),
                    mcv_size=len(cached_mcv(a, b, mcv_rule)),
                    special_roles={r: (a.role_token(r), b.role_token(r)) for r in ROLES},
                    mcv_rule=mcv_rule,
                )
            )
    all_strings = frozenset.intersection(*[v.string_set for v in vocabs])
    all_bytes = frozenset.intersection(*[v.byte_set for v in vocabs])
    mcv = pairs[0].mcv_size if len(vocabs) == 2 else len(maximal_common_vocabulary(vocabs, mcv_rule))
    return VocabOverlap(
        names=[v.name for v in vocabs],
        sizes={v.name: len(v) for v in vocabs},
        text_tokens={v.name: len(v.text_ids) for v in vocabs},
        distinct_bytes={v.name: len(v.byte_set) for v in vocabs},
        special_counts={v.name: len(v.special_ids) for v in vocabs},
        pairs=pairs,
        common_to_all_by_string=len(all_strings),
        common_to_all_by_bytes=len(all_bytes),
        mcv_size=mcv,
        mcv_rule=mcv_rule,
    )


@lru_cache(maxsize=16)
def cached_mcv(a: Vocabulary, b: Vocabulary, rule: McvRule = MCV_RULE) -> frozenset[bytes]:
    """The MCV of two vocabularies, computed once per pair and rule (either order)."""
    if id(b) < id(a):  # both orders share one entry
        return cached_mcv(b, a, rule)
    return maximal_common_vocabulary([a, b], rule)


@lru_cache(maxsize=16)
def _membership_pool(a: Vocabulary, b: Vocabulary, which: str) -> tuple[bytes, ...]:
    """The tokens of one set, shortest first: a search keeps the first matches, in order, and
    stops (set operations over whole vocabularies were most of a search's time)."""
    a_bytes, b_bytes = a.byte_set, b.byte_set
    pool = {"only_a": a_bytes - b_bytes, "only_b": b_bytes - a_bytes, "shared": a_bytes & b_bytes}[which]
    return tuple(sorted(pool, key=lambda p: (len(p), p)))


def token_membership(
    a: Vocabulary, b: Vocabulary, query: str = "", which: str = "only_a", limit: int = 200
) -> list[dict]:
    """Rows of tokens only in ``a``, only in ``b`` or shared (by bytes) whose text contains
    ``query``; shortest first so that a search shows the most basic tokens."""
    if which not in ("only_a", "only_b", "shared"):
        raise VocabLabError(f"unknown token set {which!r}; use only_a, only_b or shared")
    needle = query.encode("utf-8")
    hits = list(itertools.islice((p for p in _membership_pool(a, b, which) if needle in p), limit))
    rows = []
    for piece in hits:
        rows.append(
            {
                "token": display_token(piece),
                "bytes": len(piece),
                f"id in {a.name}": _first(a.ids_by_bytes().get(piece)),
                f"id in {b.name}": _first(b.ids_by_bytes().get(piece)),
            }
        )
    return rows


def _first(ids: list[int] | None) -> int | None:
    return ids[0] if ids else None
