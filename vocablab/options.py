"""Every choice a user makes, defined once for the library, the CLI and the app.

This module imports nothing heavy, so the CLI can build its parser from it without loading torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal, get_args

from vocablab.errors import VocabLabError

Device = Literal["auto", "cpu", "cuda"]
Method = Literal["omp", "mean", "zero", "subword", "knn"]  # how new rows of a transplant are made
MatchMode = Literal["bytes", "string"]  # when a donor token counts as one the base already has
Space = Literal["mcv", "bytes"]  # the shared space of an ensemble
McvRule = Literal["shared", "merge-closed"]  # which shared strings the maximal common vocabulary keeps
Alignment = Literal["bytes", "index"]  # how positions of two tokenizations are paired
CostKind = Literal["edit", "exact", "embedding"]  # token cost of a transport plan

DEVICES: tuple[str, ...] = get_args(Device)
METHODS: tuple[str, ...] = get_args(Method)
ANCHOR_METHODS = ("omp", "knn")  # build each new row from k shared anchors, found in the donor's embedding
MATCH_MODES: tuple[str, ...] = get_args(MatchMode)
SPACES: tuple[str, ...] = get_args(Space)
MCV_RULES: tuple[str, ...] = get_args(McvRule)
MCV_RULE: McvRule = "shared"  # docs/methods.md §5 gives the figures behind this default
ALIGNMENTS: tuple[str, ...] = get_args(Alignment)
COSTS: tuple[str, ...] = get_args(CostKind)

METHOD_HELP = {
    "omp": "orthogonal matching pursuit over k shared anchor tokens",
    "mean": "the mean of the base's rows",
    "zero": "a zero row",
    "subword": "the mean of the base rows of the token's pieces under the base tokenizer (FVT)",
    "knn": "a similarity-weighted mean of the k nearest shared tokens in the donor's space",
}
MATCH_HELP = {
    "bytes": "same UTF-8 bytes (the most shared tokens)",
    "string": "same token string, word-start markers treated alike (mergekit-tokensurgeon's rule)",
}
COST_HELP = {
    "edit": "byte edit distance",
    "exact": "exact byte match",
    "embedding": "embedding distance through a transplant",
}
MCV_RULE_HELP = {
    "shared": "every byte string both vocabularies hold, plus all single bytes",
    "merge-closed": "only the shared strings each model's BPE rebuilds with merges inside the set (slow to build)",
}
ALIGNMENT_HELP = {"bytes": "same byte offset", "index": "same token index"}
SUBVOCAB_KINDS = {
    "bytes": "every single byte (Phan et al.)",
    "maxlen:N": "every token of at most N bytes",
    "mcv:OTHER": "the maximal common vocabulary with another model",
    "file:PATH": "the tokens listed in a file, one per line",
}
SUBVOCAB_SPEC = " | ".join(SUBVOCAB_KINDS)

# Limits on what one request may ask for, so one visitor cannot hold the app for long.
MAX_TEXT_CHARS = 20_000  # tokenizer and number views, before/after, a generation's prompt
MAX_ALIGN_BYTES = 4_000  # alignment: one forward pass per model, one transport problem per position
MAX_PROMPT_CHARS = 2_000  # generation view and side-by-side (six generations a request)


def check_length(text: str, limit: int = MAX_TEXT_CHARS, what: str = "text") -> None:
    """Refuse a ``what`` (text, prompt, file) of more than ``limit`` characters."""
    if len(text) > limit:
        raise VocabLabError(f"the {what} has {len(text):,} characters; the limit is {limit:,}")


# Defaults shared by the CLI and the app.
TRANSPLANT_K = 64
LVR_K = 300
ALIGN_TOP_K = 20
MAX_ALIGN_TOP_K = 200  # each position solves a top-k x top-k transport problem (the app's slider stops at 60)
SINKHORN_REG = 0.05
# costs are in [0, 1]; below this Sinkhorn plans between real models' top-200 fail to converge (plans that
# fail above it, on other text, are refused with a message too)
MIN_SINKHORN_REG = 5e-3
ULD_WEIGHT = 1.5
DISTILL_LR = 5e-5  # AdamW learning rate of the distillation
SIDE_BY_SIDE_WEIGHT_A = 0.5  # ensemble weight of model A in the generation view


@dataclass(frozen=True)
class Decoding:
    """How reduced, ensembled and plain generation pick the next piece.

    ``k`` is K-LVR's number of next tokens kept per cover entry; ``None`` is the exact reduction.

    >>> Decoding(k=0)
    Traceback (most recent call last):
    ...
    vocablab.errors.VocabLabError: K (next tokens kept per cover entry) must be at least 1; exact mode prunes nothing
    """

    k: int | None = LVR_K
    greedy: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    max_new_bytes: int = 200
    chat: bool = False
    heal: bool = True  # condition on the prompt's text, not on one tokenization of its end

    def __post_init__(self) -> None:
        if self.k is not None and self.k < 1:
            raise VocabLabError("K (next tokens kept per cover entry) must be at least 1; exact mode prunes nothing")
        if self.max_new_bytes < 1:
            raise VocabLabError("the byte budget (new bytes to generate) must be at least 1")
        if not self.greedy and not (0 < self.temperature < math.inf and 0 < self.top_p <= 1):
            raise VocabLabError("the temperature must be a positive number and top-p in (0, 1]")

    def reduced(self) -> dict:
        """Keyword arguments of ``generate_reduced`` and ``generate_ensemble``."""
        return asdict(self)

    def plain(self) -> dict:
        """Keyword arguments of ``generate_plain`` (no K: the model as is)."""
        return {key: value for key, value in asdict(self).items() if key != "k"}


# Speculative decoding across tokenizers (vocablab speculate, draft-fit)
SPECULATE_GAMMA = 4  # symbols the draft proposes per round
MAX_GAMMA = 16  # each drafted symbol costs a draft step; past this the target rarely accepts them all
DRAFT_FIT_BYTES = 400  # draft-fit scores this many bytes of the text (a reduced step per symbol, both models)
DRAFT_FIT_GAMMAS = tuple(range(1, 9))  # draft lengths whose expected speed-up draft-fit tabulates
