"""The same text tokenized side by side by several tokenizers, with their boundaries compared.

>>> from vocablab import load_vocabulary
>>> result = compare_tokenization([load_vocabulary("llama3"), load_vocabulary("qwen3")], "12345")
>>> [t.n_tokens for t in result.tokenized]
[2, 5]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

from tokenizers import Tokenizer

from vocablab import vocab as loaded  # its functions take loaded vocabularies; the ones here also take names
from vocablab.errors import VocabLabError
from vocablab.options import (
    ADD_SPECIAL_TOKENS,
    MAX_TEXT_CHARS,
    MCV_RULE,
    PARSE_SPECIAL_TOKENS,
    McvRule,
    check_length,
)
from vocablab.playground import format_ids
from vocablab.sources import as_vocabularies
from vocablab.vocab import VocabOverlap, Vocabulary, display_token


@dataclass
class Token:
    id: int
    string: str  # the token as the vocabulary spells it ("Ġworld", "▁world", "<0xE6>")
    piece: bytes  # the bytes it stands for in the text (a special token: its name)
    n_bytes: int  # bytes of text it stands for (0 for a special token)
    start: int  # [start, end) byte offsets in the text
    end: int
    special: bool
    added: bool = False  # put there by the tokenizer (its BOS, EOS), not found in the text


@dataclass
class TokenizedText:
    name: str
    tokens: list[Token]
    n_bytes: int
    n_chars: int
    round_trips: bool  # decode(encode(text)) == text

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def n_special(self) -> int:
        """Special tokens among them: those the tokenizer added and those written in the text."""
        return sum(t.special for t in self.tokens)

    def count_note(self) -> str:
        """The count, saying whether special tokens are in it: "12 tokens (2 special) · 10 without specials"."""
        n, special = self.n_tokens, self.n_special
        if special == 0:
            return f"{n:,} token{'s' * (n != 1)} (none special)"
        return f"{n:,} token{'s' * (n != 1)} ({special:,} special) · {n - special:,} without specials"

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / max(self.n_tokens, 1)

    @property
    def chars_per_token(self) -> float:
        return self.n_chars / max(self.n_tokens, 1)

    def boundaries(self) -> set[int]:
        """Byte offsets where one token of the text ends and the next begins (an added BOS is no cut)."""
        in_text = [t for t in self.tokens if not t.added]
        return {t.end for t in in_text[:-1]}


@dataclass
class TokenComparison:
    text: str
    tokenized: list[TokenizedText]
    disagreeing_boundaries: list[int]  # byte offsets where some but not all tokenizers cut
    overlap: VocabOverlap | None

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "n_bytes": len(self.text.encode("utf-8")),
            "tokenizers": [
                {
                    "name": t.name,
                    "n_tokens": t.n_tokens,
                    "n_special": t.n_special,
                    "bytes_per_token": round(t.bytes_per_token, 4),
                    "chars_per_token": round(t.chars_per_token, 4),
                    "round_trips": t.round_trips,
                    "ids": [tok.id for tok in t.tokens],
                    "tokens": [tok.string for tok in t.tokens],
                    "byte_lengths": [tok.n_bytes for tok in t.tokens],
                    "special": [tok.special for tok in t.tokens],
                }
                for t in self.tokenized
            ],
            "disagreeing_boundaries": self.disagreeing_boundaries,
            "overlap": None if self.overlap is None else asdict(self.overlap),
        }

    def lines(self) -> list[str]:
        """What ``vocablab compare`` prints: each tokenization, then the vocabularies' overlaps."""
        out = []
        for t in self.tokenized:
            out.append(
                f"== {t.name}: {t.n_tokens} tokens, {t.bytes_per_token:.2f} bytes/token, "
                f"{t.chars_per_token:.2f} chars/token, "
                + (f"{t.n_special} special ({t.n_tokens - t.n_special} without)" if t.n_special else "none special")
                + ("" if t.round_trips else " (does not round-trip)")
            )
            out.append(" | ".join(display_token(tok.piece) for tok in t.tokens))
            out.append(f"ids: {format_ids(t.ids)}")
        out.append(f"boundaries not shared by all: {len(self.disagreeing_boundaries)}")
        return out + (self.overlap.lines() if self.overlap is not None else [])


def check_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    if not text or not text.strip():
        raise VocabLabError("the text is empty or only whitespace: type or paste some text")
    check_length(text, limit)
    return text


@lru_cache(maxsize=4)  # a copy of Gemma 3's tokenizer takes about 300 MB: one view's four at most
def _specials_as_text(vocab: Vocabulary) -> Tokenizer:
    """A copy of the tokenizer that reads special tokens written in a text as plain text. A copy, not
    the shared tokenizer switched for a moment: other visitors' threads encode with that one. Built
    only when asked for (the view's switch turned off)."""
    backend = Tokenizer.from_str(vocab.backend.to_str())
    backend.encode_special_tokens = True
    return backend


def encode_with_specials(
    vocab: Vocabulary,
    text: str,
    *,
    add_special_tokens: bool = ADD_SPECIAL_TOKENS,
    parse_special_tokens: bool = PARSE_SPECIAL_TOKENS,
) -> tuple[list[int], list[bool]]:
    """The ids of ``text``, and which of them the tokenizer added itself (its post-processor's BOS or
    EOS, with ``add_special_tokens``). ``parse_special_tokens``: a special token written in the text
    ("<|im_start|>") is that one token; else it is split like any other text."""
    if not add_special_tokens and parse_special_tokens:
        ids = vocab.encode(text)  # the common case, with its check of the text's UTF-8
        return ids, [False] * len(ids)
    backend = vocab.backend if parse_special_tokens else _specials_as_text(vocab)
    try:
        encoding = backend.encode(text, add_special_tokens=add_special_tokens)
    except TypeError:
        vocab.encode(text)  # its message for a text that is not UTF-8
        raise
    return encoding.ids, [bool(m) for m in encoding.special_tokens_mask]


def tokenize_text(
    vocab: Vocabulary,
    text: str,
    *,
    add_special_tokens: bool = ADD_SPECIAL_TOKENS,
    parse_special_tokens: bool = PARSE_SPECIAL_TOKENS,
) -> TokenizedText:
    ids, added = encode_with_specials(
        vocab, text, add_special_tokens=add_special_tokens, parse_special_tokens=parse_special_tokens
    )
    text_ids = [i for i, a in zip(ids, added, strict=True) if not a]
    spans = iter(vocab.byte_spans(text_ids))  # an added token stands for no text: it takes no bytes
    tokens, end = [], 0
    for i, is_added in zip(ids, added, strict=True):
        start, end = (end, end) if is_added else next(spans)
        tokens.append(
            Token(
                id=i,
                string=vocab.strings[i] or "",
                piece=vocab.display_bytes(i),
                n_bytes=end - start if vocab.pieces[i] is not None else 0,
                start=start,
                end=end,
                special=vocab.pieces[i] is None,
                added=is_added,
            )
        )
    return TokenizedText(
        name=vocab.name,
        tokens=tokens,
        n_bytes=len(text.encode("utf-8")),
        n_chars=len(text),
        round_trips=vocab.decode(text_ids) == text,
    )


def compare_tokenization(
    vocabs: list[Vocabulary | str],
    text: str,
    *,
    with_overlap: bool = True,
    mcv_rule: McvRule = MCV_RULE,
    add_special_tokens: bool = ADD_SPECIAL_TOKENS,
    parse_special_tokens: bool = PARSE_SPECIAL_TOKENS,
) -> TokenComparison:
    """Tokenize ``text`` with each vocabulary and find the cuts they do not all share; the overlap
    counts the MCV under ``mcv_rule`` (docs/methods.md §5). ``add_special_tokens``: each tokenizer adds
    its own (BOS, EOS) as it would for a model; ``parse_special_tokens``: special tokens written in the
    text are read as such, else as plain text (:func:`encode_with_specials`).

    >>> from vocablab import load_vocabulary
    >>> smol, gemma = load_vocabulary("smollm2-135m"), load_vocabulary("gemma3-270m")
    >>> result = compare_tokenization([smol, gemma], "In 2024, 12,345 fans")
    >>> [t.n_tokens for t in result.tokenized], result.overlap.pairs[0].shared_by_bytes
    ([15, 15], 46145)
    """
    vocabs = as_vocabularies(vocabs)
    check_text(text)
    if not vocabs:
        raise VocabLabError("choose at least one tokenizer")
    switches = {"add_special_tokens": add_special_tokens, "parse_special_tokens": parse_special_tokens}
    tokenized = [tokenize_text(v, text, **switches) for v in vocabs]
    cuts = [t.boundaries() for t in tokenized]
    disagreeing = sorted(set.union(*cuts) - set.intersection(*cuts)) if len(cuts) > 1 else []
    overlap = loaded.compare_vocabularies(vocabs, mcv_rule) if with_overlap and len(vocabs) > 1 else None
    return TokenComparison(text, tokenized, disagreeing, overlap)


def compare_vocabularies(vocabs: list[Vocabulary | str], mcv_rule: McvRule = MCV_RULE) -> VocabOverlap:
    """:func:`vocablab.vocab.compare_vocabularies` of vocabularies or of what names them (a model id,
    a path, a Source).

    >>> compare_vocabularies(["smollm2-135m", "gemma3-270m"]).pairs[0].shared_by_bytes
    46145
    """
    return loaded.compare_vocabularies(as_vocabularies(vocabs), mcv_rule)


def maximal_common_vocabulary(vocabs: list[Vocabulary | str], rule: McvRule = MCV_RULE) -> frozenset[bytes]:
    """:func:`vocablab.vocab.maximal_common_vocabulary` of vocabularies or of what names them."""
    return loaded.maximal_common_vocabulary(as_vocabularies(vocabs), rule)
