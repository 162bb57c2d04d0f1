"""The same text tokenized side by side by several tokenizers, with their boundaries compared.

>>> from vocablab import load_vocabulary
>>> result = compare_tokenization([load_vocabulary("llama3"), load_vocabulary("qwen3")], "12345")
>>> [t.n_tokens for t in result.tokenized]
[2, 5]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vocablab import vocab as loaded  # its functions take loaded vocabularies; the ones here also take names
from vocablab.errors import VocabLabError
from vocablab.options import MAX_TEXT_CHARS, MCV_RULE, McvRule, check_length
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
    def bytes_per_token(self) -> float:
        return self.n_bytes / max(self.n_tokens, 1)

    @property
    def chars_per_token(self) -> float:
        return self.n_chars / max(self.n_tokens, 1)

    def boundaries(self) -> set[int]:
        """Byte offsets where one token ends and the next begins."""
        return {t.end for t in self.tokens[:-1]}


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
                    "bytes_per_token": round(t.bytes_per_token, 4),
                    "chars_per_token": round(t.chars_per_token, 4),
                    "round_trips": t.round_trips,
                    "ids": [tok.id for tok in t.tokens],
                    "tokens": [tok.string for tok in t.tokens],
                    "byte_lengths": [tok.n_bytes for tok in t.tokens],
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
                f"{t.chars_per_token:.2f} chars/token{'' if t.round_trips else ' (does not round-trip)'}"
            )
            out.append(" | ".join(display_token(tok.piece) for tok in t.tokens))
        out.append(f"boundaries not shared by all: {len(self.disagreeing_boundaries)}")
        return out + (self.overlap.lines() if self.overlap is not None else [])


def check_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    if not text or not text.strip():
        raise VocabLabError("the text is empty or only whitespace: type or paste some text")
    check_length(text, limit)
    return text


def tokenize_text(vocab: Vocabulary, text: str) -> TokenizedText:
    ids = vocab.encode(text)
    spans = vocab.byte_spans(ids)
    tokens = [
        Token(
            id=i,
            string=vocab.strings[i] or "",
            piece=vocab.display_bytes(i),
            n_bytes=end - start if vocab.pieces[i] is not None else 0,
            start=start,
            end=end,
            special=vocab.pieces[i] is None,
        )
        for i, (start, end) in zip(ids, spans, strict=True)
    ]
    return TokenizedText(
        name=vocab.name,
        tokens=tokens,
        n_bytes=len(text.encode("utf-8")),
        n_chars=len(text),
        round_trips=vocab.decode(ids) == text,
    )


def compare_tokenization(
    vocabs: list[Vocabulary | str], text: str, *, with_overlap: bool = True, mcv_rule: McvRule = MCV_RULE
) -> TokenComparison:
    """Tokenize ``text`` with each vocabulary and find the cuts they do not all share; the overlap
    counts the MCV under ``mcv_rule`` (docs/methods.md §5).

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
    tokenized = [tokenize_text(v, text) for v in vocabs]
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
