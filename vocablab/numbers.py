"""Number tokenization: how a tokenizer cuts digit runs, and where two tokenizers disagree.

docs/methods.md §2. Families differ: one digit per token (Qwen, Gemma, Mistral, SmolLM2),
left-to-right groups of up to three digits (Llama-3, GPT-4, DeepSeek-V3), or free BPE merges
(GPT-2). Transplanting a model onto a tokenizer with another scheme costs most of its arithmetic,
so the scheme is detected from behaviour (never from the tokenizer's name) and the differences
are listed number by number.

A *segmentation* of a string is the list of byte pieces of its tokens, with a dummy-prefix space
removed (a token left empty by that is dropped), so "12345" under Llama-3 is [b"123", b"45"].
"""

from __future__ import annotations

import copy
import random
import re
from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Literal

from vocablab.errors import VocabLabError
from vocablab.options import check_length
from vocablab.sources import as_vocabularies
from vocablab.vocab import Vocabulary, display_token

MAX_DIGIT_LENGTH = 12
SAMPLE_SEED = 2024
DIGITS = frozenset(b"0123456789")
DIGIT_TOKEN = re.compile(rb"^ ?[0-9]+$")

SchemeKind = Literal["single", "groups-left", "groups-right", "free"]

# Numbers in running text: dates first, then grouped thousands, then plain numbers; a sign,
# currency symbol and percent sign belong to the number (tokenizers often merge them). A number may
# touch letters ("998M", "1.2B", "Q3", "GPT-4o", "x86_64"): its digits are cut by the tokenizer all
# the same. A number never starts or ends inside a digit run, and a "-" after a letter or digit is
# a hyphen, not a sign ("GPT-4o": "4"; "5-3": "5" and "3").
NUMBER_IN_TEXT = re.compile(
    r"""
    (?<!\d)
    (?:(?<![\w])[-+\u2212])?
    (?:
        \d{4}-\d{1,2}-\d{1,2}                             # 2024-01-05
      | \d{1,2}/\d{1,2}/\d{2,4}                           # 05/01/2024
      | [$€£¥]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?              # 1,234.56
      | [$€£¥]?\d+(?:\.\d+)?%?                             # 12345, 3.14, $5, 12%, 998 (of 998M)
    )
    (?![\d])
    """,
    re.VERBOSE | re.ASCII,
)


@dataclass(frozen=True)
class DigitScheme:
    """How a tokenizer cuts runs of ASCII digits, as observed on test strings."""

    kind: SchemeKind
    max_group: int
    description: str


@dataclass(frozen=True)
class NumberSample:
    """One test string: its category, whether it starts with a space, and the text itself."""

    category: str
    leading_space: bool
    text: str


@dataclass
class NumberComparison:
    """How two tokenizers split the sample numbers of :func:`number_samples`.

    ``mismatches`` holds at most ``max_rows`` rows, shared evenly between the categories;
    ``mismatch_total`` counts all of them. ``category_rates`` has one row per category and
    leading-space flag. ``tokens_per_length_a[i]`` is the mean number of tokens of an integer
    with ``digit_lengths[i]`` digits (no leading space). Digit tokens are rendered as text, a
    leading space as " ".
    """

    a: str
    b: str
    scheme_a: DigitScheme
    scheme_b: DigitScheme
    samples_total: int
    mismatch_total: int
    mismatches: list[dict]
    category_rates: list[dict]
    digit_lengths: list[int]
    tokens_per_length_a: list[float]
    tokens_per_length_b: list[float]
    digit_tokens_only_a: list[str]
    digit_tokens_only_b: list[str]
    digit_tokens_a: int
    digit_tokens_b: int

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self, shown: int = 20) -> list[str]:
        """Both digit schemes, mismatch rates per category and the first ``shown`` mismatches."""
        out = [
            f"A {self.a}: {self.scheme_a.description} ({self.scheme_a.kind})",
            f"B {self.b}: {self.scheme_b.description} ({self.scheme_b.kind})",
            f"{self.mismatch_total:,} of {self.samples_total:,} sample numbers are split differently",
        ]
        for rate in self.category_rates:
            out.append(
                f"   {rate['category']:20s} {'leading space' if rate['leading_space'] else 'no space':14s} "
                f"{rate['mismatches']:>7,} / {rate['samples']:<7,}"
            )
        for row in self.mismatches[:shown]:
            out.append(f"   {row['number']!r:>16}  A {row['split_a']:<24} B {row['split_b']}")
        only_a, only_b = len(self.digit_tokens_only_a), len(self.digit_tokens_only_b)
        return [*out, f"digit tokens only in A: {only_a:,}; only in B: {only_b:,}"]


@dataclass(frozen=True)
class NumberSpan:
    """A number found in the user's text, cut at each tokenizer's token boundaries.

    ``start``/``end`` are character offsets into the text; ``split_a``/``split_b`` are the
    pieces of the number between the cuts (a token that reaches outside the number, such as
    GPT-2's " 123", is clipped to the number).
    """

    start: int
    end: int
    text: str
    split_a: list[str]
    split_b: list[str]
    differs: bool


def render_split(pieces: list[bytes]) -> str:
    """A segmentation as readable text, pieces joined by "|": ``[b" ", b"123"]`` -> "·|123"."""
    return "|".join(display_token(p) for p in pieces)


def number_splits(vocab: Vocabulary, strings: list[str]) -> list[list[bytes]]:
    """The segmentation of each string: its tokens' bytes, dummy-prefix space removed.

    >>> from vocablab import load_vocabulary
    >>> number_splits(load_vocabulary("llama3"), ["12345"])
    [[b'123', b'45']]
    """
    encodings = vocab.backend.encode_batch(list(strings), add_special_tokens=False)
    pieces = vocab.pieces
    splits = []
    for encoding in encodings:
        ids = encoding.ids
        split = [pieces[i] for i in ids]
        if None in split:  # a special token typed in the text stands for its own name
            split = [vocab.display_bytes(i) for i in ids]
        if vocab.dummy_prefix and split and split[0].startswith(b" "):
            split[0] = split[0][1:]
            if not split[0]:
                split.pop(0)
        splits.append(split)
    return splits


# --- the digit scheme ----------------------------------------------------------------------


def scheme_probe_strings() -> list[str]:
    """Digit strings of length 1..12: a counting run, a repeated digit and eight random ones per
    length (fixed seed), each also with a leading space."""
    rng = random.Random(SAMPLE_SEED)
    bare = []
    for length in range(1, MAX_DIGIT_LENGTH + 1):
        bare.append(("1234567890" * 2)[:length])
        bare.append("7" * length)
        for _ in range(8):
            bare.append("".join(rng.choice("0123456789") for _ in range(length)))
    return bare + [" " + s for s in bare]


def digit_cuts(split: list[bytes]) -> tuple[int, list[int]]:
    """Length of the digit run and the digit offsets where one token ends and the next begins."""
    cuts, offset = [], 0
    for piece in split:
        digits = sum(byte in DIGITS for byte in piece)
        if digits:
            if offset:
                cuts.append(offset)
            offset += digits
    return offset, cuts


def largest_group(split: list[bytes]) -> int:
    return max((sum(byte in DIGITS for byte in piece) for piece in split), default=0)


def _groups_hold(runs: list[tuple[int, list[int]]], group: int, from_right: bool) -> bool:
    """True when no token crosses a group boundary (every ``group`` digits from one end)."""
    for length, cuts in runs:
        cut_set = set(cuts)
        starts = range(length % group or group, length, group) if from_right else range(group, length, group)
        if not cut_set.issuperset(starts):
            return False
    return True


@lru_cache(maxsize=32)
def detect_digit_scheme(vocab: Vocabulary) -> DigitScheme:
    """Classify how ``vocab`` splits digit runs, from how it encodes :func:`scheme_probe_strings`.

    "single": every token holds one digit. "groups-left" / "groups-right": no token crosses the
    boundary every ``max_group`` digits counted from the left / right end. "free": neither.
    """
    splits = number_splits(vocab, scheme_probe_strings())
    group = max(largest_group(s) for s in splits)
    runs = [digit_cuts(s) for s in splits]
    if group <= 1:
        return DigitScheme("single", 1, "one digit per token")
    if group < MAX_DIGIT_LENGTH:
        if _groups_hold(runs, group, from_right=False):
            return DigitScheme("groups-left", group, f"groups of up to {group} digits, left to right")
        if _groups_hold(runs, group, from_right=True):
            return DigitScheme("groups-right", group, f"groups of up to {group} digits, right to left")
    return DigitScheme("free", group, f"free merges with no digit rule (tokens of up to {group} digits)")


def digit_scheme_warning(base: Vocabulary, donor: Vocabulary) -> str | None:
    """A warning for a transplant between tokenizers that split digits differently, or None.

    >>> from vocablab import load_vocabulary
    >>> print(digit_scheme_warning(load_vocabulary("gemma3-270m"), load_vocabulary("llama3")))  # doctest: +ELLIPSIS
    gemma3-270m splits numbers one digit per token, llama3 in groups of up to 3 digits, left to right: ...
    >>> digit_scheme_warning(load_vocabulary("gemma3-270m"), load_vocabulary("smollm2-135m")) is None
    True
    """
    a, b = detect_digit_scheme(base), detect_digit_scheme(donor)
    if (a.kind, a.max_group) == (b.kind, b.max_group):
        return None
    how_b = b.description if b.kind == "single" else f"in {b.description}"
    return (
        f"{base.name} splits numbers {a.description}, {donor.name} {how_b}: after a transplant between "
        "tokenizers that split digits differently, the OMP paper (Goddard & Fernandes Neto 2025) reports math "
        "(GSM8K) falling by about three quarters (Qwen to Llama: 6.75 to 1.44; Llama to Mistral NeMo: 55.9 to "
        f"14.6), against about 5% for pairs with the same scheme. Compare them: vocablab numbers {base.name} "
        f"{donor.name}, or the Numbers view."
    )


# --- the number samples --------------------------------------------------------------------

CATEGORIES = (
    "integer",
    "long integer",
    "decimal",
    "thousands separator",
    "negative",
    "date",
    "price",
    "percentage",
)
SAMPLES_PER_CATEGORY = 2000


def _random_int(rng: random.Random, max_digits: int) -> int:
    return rng.randrange(10 ** rng.randint(1, max_digits))


@lru_cache(maxsize=1)
def number_samples() -> tuple[NumberSample, ...]:
    """The fixed set of number strings every comparison uses (seeded, so always the same).

    - integer: every integer 0..99999;
    - long integer: 6..12 digits, 300 random ones per length (no leading zero);
    - decimal ("3.14"), thousands separator ("12,345,678"), negative ("-42", "-0.5"),
      date ("2024-01-05", "05/01/2024"), price ("$1,234.99", "$5"), percentage ("12%", "3.5%"):
      2000 random ones each.

    Each string appears twice: bare and with one leading space.
    """
    rng = random.Random(SAMPLE_SEED)
    texts: list[tuple[str, str]] = [("integer", str(i)) for i in range(100_000)]
    for length in range(6, MAX_DIGIT_LENGTH + 1):
        for _ in range(300):
            texts.append(("long integer", str(rng.randrange(10 ** (length - 1), 10**length))))
    generators = {
        "decimal": lambda: f"{_random_int(rng, 5)}.{rng.randrange(10 ** rng.randint(1, 4))}",
        "thousands separator": lambda: f"{rng.randrange(1000, 10 ** rng.randint(4, 12)):,}",
        "negative": lambda: (
            f"-{_random_int(rng, 6)}" if rng.random() < 0.5 else f"-{_random_int(rng, 3)}.{rng.randrange(100)}"
        ),
        "date": lambda: _random_date(rng),
        "price": lambda: (
            f"${rng.randrange(10 ** rng.randint(1, 7)):,}.{rng.randrange(100):02d}"
            if rng.random() < 0.7
            else f"${_random_int(rng, 4)}"
        ),
        "percentage": lambda: (
            f"{rng.randrange(101)}%" if rng.random() < 0.5 else f"{rng.randrange(100)}.{rng.randrange(10)}%"
        ),
    }
    for category, make in generators.items():
        texts.extend((category, make()) for _ in range(SAMPLES_PER_CATEGORY))
    samples = [NumberSample(c, False, t) for c, t in texts]
    samples += [NumberSample(c, True, " " + t) for c, t in texts]
    return tuple(samples)


def _random_date(rng: random.Random) -> str:
    year, month, day = rng.randint(1900, 2099), rng.randint(1, 12), rng.randint(1, 28)
    if rng.random() < 0.5:
        return f"{year}-{month:02d}-{day:02d}"
    return f"{month:02d}/{day:02d}/{year}"


@lru_cache(maxsize=6)
def sample_splits(vocab: Vocabulary) -> tuple[tuple[bytes, ...], ...]:
    """Segmentations of every :func:`number_samples` string under ``vocab`` (cached per vocabulary)."""
    return tuple(tuple(s) for s in number_splits(vocab, [s.text for s in number_samples()]))


# --- comparing two tokenizers --------------------------------------------------------------


def digit_tokens(vocab: Vocabulary) -> frozenset[bytes]:
    """Tokens whose bytes are all ASCII digits, optionally after one space."""
    return frozenset(p for p in vocab.ids_by_bytes() if DIGIT_TOKEN.match(p))


def _digit_token_order(piece: bytes) -> tuple[int, bool, bytes]:
    digits = piece.lstrip(b" ")
    return len(digits), len(digits) != len(piece), digits


def _spread(items: list, k: int) -> list:
    """At most ``k`` items taken evenly across the list (so a capped table shows its range)."""
    if len(items) <= k:
        return items
    return [items[i * len(items) // k] for i in range(k)]


def compare_numbers(a: Vocabulary | str, b: Vocabulary | str, *, max_rows: int | None = 2000) -> NumberComparison:
    """Compare how ``a`` and ``b`` split the fixed number samples (see :func:`number_samples`).

    ``max_rows=None`` keeps every differing number in the table. The work is cached per pair (the
    app's visitors share it); each call returns its own copy.

    >>> from vocablab import load_vocabulary
    >>> result = compare_numbers(load_vocabulary("smollm2-135m"), load_vocabulary("llama3"))
    >>> result.scheme_a.description, result.scheme_b.description
    ('one digit per token', 'groups of up to 3 digits, left to right')
    """
    if max_rows is not None and max_rows < 0:
        raise VocabLabError("max_rows must be at least 0 (None: every row)")
    return copy.deepcopy(_compare_numbers(*as_vocabularies([a, b]), max_rows))


@lru_cache(maxsize=16)
def _compare_numbers(a: Vocabulary, b: Vocabulary, max_rows: int | None) -> NumberComparison:
    samples = number_samples()
    splits_a, splits_b = sample_splits(a), sample_splits(b)
    differing: dict[tuple[str, bool], list[int]] = {}
    counts: dict[tuple[str, bool], int] = {}
    for i, sample in enumerate(samples):
        key = (sample.category, sample.leading_space)
        counts[key] = counts.get(key, 0) + 1
        if splits_a[i] != splits_b[i]:
            differing.setdefault(key, []).append(i)
    mismatch_total = sum(len(v) for v in differing.values())

    per_group = mismatch_total if max_rows is None else -(-max_rows // max(len(differing), 1))
    rows = []
    for key in counts:
        for i in _spread(differing.get(key, []), per_group):
            rows.append(
                {
                    "category": samples[i].category,
                    "leading_space": samples[i].leading_space,
                    "number": samples[i].text,
                    "split_a": render_split(list(splits_a[i])),
                    "split_b": render_split(list(splits_b[i])),
                    "tokens_a": len(splits_a[i]),
                    "tokens_b": len(splits_b[i]),
                }
            )
    if max_rows is not None:
        rows = rows[:max_rows]

    rates = []
    for (category, space), total in counts.items():
        missed = len(differing.get((category, space), []))
        rates.append(
            {
                "category": category,
                "leading_space": space,
                "samples": total,
                "mismatches": missed,
                "rate": missed / total,
            }
        )

    lengths = list(range(1, MAX_DIGIT_LENGTH + 1))
    per_length = {"a": _tokens_per_length(samples, splits_a), "b": _tokens_per_length(samples, splits_b)}
    digits_a, digits_b = digit_tokens(a), digit_tokens(b)
    only_a = sorted(digits_a - digits_b, key=_digit_token_order)
    only_b = sorted(digits_b - digits_a, key=_digit_token_order)
    return NumberComparison(
        a=a.name,
        b=b.name,
        scheme_a=detect_digit_scheme(a),
        scheme_b=detect_digit_scheme(b),
        samples_total=len(samples),
        mismatch_total=mismatch_total,
        mismatches=rows,
        category_rates=rates,
        digit_lengths=lengths,
        tokens_per_length_a=[per_length["a"].get(n, 0.0) for n in lengths],
        tokens_per_length_b=[per_length["b"].get(n, 0.0) for n in lengths],
        digit_tokens_only_a=[p.decode("ascii") for p in only_a],
        digit_tokens_only_b=[p.decode("ascii") for p in only_b],
        digit_tokens_a=len(digits_a),
        digit_tokens_b=len(digits_b),
    )


def _tokens_per_length(samples: tuple[NumberSample, ...], splits: tuple[tuple[bytes, ...], ...]) -> dict[int, float]:
    """Mean tokens of the bare integer samples, by digit count."""
    totals: dict[int, list[int]] = {}
    for sample, split in zip(samples, splits, strict=True):
        if sample.category in ("integer", "long integer") and not sample.leading_space:
            entry = totals.setdefault(len(sample.text), [0, 0])
            entry[0] += len(split)
            entry[1] += 1
    return {n: tokens / count for n, (tokens, count) in totals.items()}


# --- numbers in the user's text -------------------------------------------------------------


def find_numbers(text: str) -> list[tuple[int, int]]:
    """Character spans of the numbers in ``text`` (dates, signs, currency, %, separators)."""
    return [m.span() for m in NUMBER_IN_TEXT.finditer(text)]


def token_byte_spans(vocab: Vocabulary, text: str) -> list[tuple[int, int]]:
    """[start, end) byte offsets of each token of ``text`` (the whole text encoded once).

    The byte view gives exact offsets when the tokens' bytes spell the text; when they do not
    (a normalizer changed the text, or an unknown token), the tokenizer's own character offsets
    are used instead.
    """
    encoding = vocab.backend.encode(text, add_special_tokens=False)
    data = text.encode("utf-8")
    if vocab.text_bytes(encoding.ids) == data:
        return vocab.byte_spans(encoding.ids)
    char_to_byte = _char_to_byte_offsets(text)
    return [(char_to_byte[s], char_to_byte[e]) for s, e in encoding.offsets]


def _char_to_byte_offsets(text: str) -> list[int]:
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + len(ch.encode("utf-8")))
    return offsets


def _cut(data: bytes, start: int, end: int, boundaries: list[int]) -> list[bytes]:
    """The bytes ``data[start:end]`` cut at every token boundary that falls strictly inside."""
    inside = boundaries[bisect_right(boundaries, start) : bisect_left(boundaries, end)]
    edges = [start, *inside, end]
    return [data[i:j] for i, j in pairwise(edges)]


def _boundaries(spans: list[tuple[int, int]]) -> list[int]:
    return sorted({p for span in spans for p in span})


def highlight_numbers(a: Vocabulary, b: Vocabulary, text: str) -> list[NumberSpan]:
    """Every number in ``text`` with how ``a`` and ``b`` cut it, flagging those they cut
    differently. Each tokenizer encodes the whole text once, so context is taken into account.
    """
    if not text or not text.strip():
        raise VocabLabError("type some text with numbers in it")
    check_length(text)
    data = text.encode("utf-8")
    char_to_byte = _char_to_byte_offsets(text)
    cuts_a, cuts_b = _boundaries(token_byte_spans(a, text)), _boundaries(token_byte_spans(b, text))
    found = []
    for start, end in find_numbers(text):
        byte_start, byte_end = char_to_byte[start], char_to_byte[end]
        split_a = _cut(data, byte_start, byte_end, cuts_a)
        split_b = _cut(data, byte_start, byte_end, cuts_b)
        found.append(
            NumberSpan(
                start=start,
                end=end,
                text=text[start:end],
                split_a=[display_token(p) for p in split_a],
                split_b=[display_token(p) for p in split_b],
                differs=split_a != split_b,
            )
        )
    return found
