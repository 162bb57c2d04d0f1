"""Every choice a user makes, defined once for the library, the CLI and the app.

This module imports nothing heavy, so the CLI can build its parser from it without loading torch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Literal, get_args

from vocablab.errors import VocabLabError

Device = Literal["auto", "cpu", "cuda"]
Method = Literal["omp", "mean", "zero", "subword", "knn"]  # how new rows of a transplant are made
MatchMode = Literal["bytes", "string"]  # when a donor token counts as one the base already has
Space = Literal["mcv", "bytes"]  # the shared space of an ensemble
McvRule = Literal["shared", "merge-closed"]  # which shared strings the maximal common vocabulary keeps
Alignment = Literal["bytes", "index"]  # how positions of two tokenizations are paired
CostKind = Literal["edit", "exact", "embedding"]  # token cost of a transport plan
OutputDtype = Literal["auto", "float32", "bfloat16", "float16"]  # a transplant's written weights

DEVICES: tuple[str, ...] = get_args(Device)
METHODS: tuple[str, ...] = get_args(Method)
ANCHOR_METHODS = ("omp", "knn")  # build each new row from k shared anchors, found in the donor's embedding
MATCH_MODES: tuple[str, ...] = get_args(MatchMode)
SPACES: tuple[str, ...] = get_args(Space)
MCV_RULES: tuple[str, ...] = get_args(McvRule)
MCV_RULE: McvRule = "shared"  # docs/methods.md §5 gives the figures behind this default
ADD_SPECIAL_TOKENS = False  # the tokenizer view: text alone, without the BOS a tokenizer adds for a model
PARSE_SPECIAL_TOKENS = True  # "<|im_start|>" written in a text is that special token, as a chat template uses it
ALIGNMENTS: tuple[str, ...] = get_args(Alignment)
COSTS: tuple[str, ...] = get_args(CostKind)
OUTPUT_DTYPES: tuple[str, ...] = get_args(OutputDtype)

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
OUTPUT_DTYPE_HELP = {
    "auto": "each tensor as in the base's files",
    "float32": "every float tensor in float32 (twice a 16-bit model's size)",
    "bfloat16": "every float tensor in bfloat16",
    "float16": "every float tensor in float16 (values past 65,504 become infinite: refused)",
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
MAX_CORPUS_DOCUMENTS = 100  # the transplant view's corpus score: one visitor holds the model-run slot this long


def check_length(text: str, limit: int = MAX_TEXT_CHARS, what: str = "text") -> None:
    """Refuse a ``what`` (text, prompt, file) of more than ``limit`` characters."""
    if len(text) > limit:
        raise VocabLabError(f"the {what} has {len(text):,} characters; the limit is {limit:,}")


# Defaults shared by the CLI and the app.
TRANSPLANT_K = 64
TRANSPLANT_METHOD: Method = "omp"
TRANSPLANT_MATCH: MatchMode = "bytes"
LVR_K = 300
ALIGN_TOP_K = 20
MAX_ALIGN_TOP_K = 200  # each position solves a top-k x top-k transport problem (the app's slider stops at 60)
SINKHORN_REG = 0.05
# costs are in [0, 1]; below this Sinkhorn plans between real models' top-200 fail to converge (plans that
# fail above it, on other text, are refused with a message too)
MIN_SINKHORN_REG = 5e-3
ULD_WEIGHT = 1.5
DISTILL_LR = 5e-5  # AdamW learning rate of the distillation
DISTILL_BLOCK_BYTES = 1000  # each training document is cut to this many bytes
CORPUS = "lee_background"  # the text preset a scorecard reads (vocablab probe, the transplant view)
CORPUS_DOCUMENTS = 10  # its first 10 articles, about 10 kB (docs/benchmarks.md has the time of 20)
SIDE_BY_SIDE_WEIGHT_A = 0.5  # ensemble weight of model A in the generation view


@dataclass(frozen=True)
class AlignSettings:
    """How ``align_text`` compares two models' next-token distributions on a text.

    >>> AlignSettings(cost="cosine")
    Traceback (most recent call last):
    ...
    vocablab.errors.VocabLabError: unknown cost 'cosine'; use one of edit, exact, embedding
    """

    top_k: int = ALIGN_TOP_K  # tokens of each distribution in the transport plans
    cost: CostKind = "edit"
    alignment: Alignment = "bytes"
    temperature: float = 1.0
    reg: float = SINKHORN_REG

    def __post_init__(self) -> None:
        if self.cost not in COSTS:
            raise VocabLabError(f"unknown cost {self.cost!r}; use one of {', '.join(COSTS)}")
        check_alignment(self.alignment)
        if not 0 < self.reg < math.inf:  # NaN fails this too
            raise VocabLabError("the Sinkhorn regularization must be a positive number")
        if self.reg < MIN_SINKHORN_REG:
            raise VocabLabError(
                f"the Sinkhorn regularization must be at least {MIN_SINKHORN_REG:g}: below it the solver's plans "
                "do not converge (each position also shows the exact optimal cost, the limit as it shrinks)"
            )
        if not 1 <= self.top_k <= MAX_ALIGN_TOP_K:
            raise VocabLabError(
                f"top-k must be between 1 and {MAX_ALIGN_TOP_K} (each position solves a top-k x top-k transport "
                "problem)"
            )
        if not 0 < self.temperature < math.inf:
            raise VocabLabError("the temperature must be a positive number")


@dataclass(frozen=True)
class DistillSettings:
    """How ``distill`` trains a student: ``steps`` steps of one document each, loss = CE + ``uld_weight`` x ULD.

    >>> DistillSettings(steps=0)
    Traceback (most recent call last):
    ...
    vocablab.errors.VocabLabError: steps must be at least 1
    """

    steps: int
    uld_weight: float = ULD_WEIGHT
    temperature: float = 1.0
    lr: float = DISTILL_LR
    alignment: Alignment = "bytes"
    limit: int | None = None  # use only the first documents of the text
    block_bytes: int = DISTILL_BLOCK_BYTES
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise VocabLabError("steps must be at least 1")
        check_alignment(self.alignment)
        finite = (0 < self.temperature < math.inf, 0 < self.lr < math.inf, 0 <= self.uld_weight < math.inf)
        if not all(finite):  # NaN fails these too
            raise VocabLabError(
                "the temperature and learning rate must be positive numbers and the ULD weight a number not below 0"
            )


def check_alignment(alignment: str) -> None:
    if alignment not in ALIGNMENTS:
        raise VocabLabError(f"unknown alignment {alignment!r}; use one of {', '.join(ALIGNMENTS)}")


# K-LVR's pruning (vocablab/reduce/lvr.py). Of the entries about to close (each costs a forward pass): the 4
# heaviest within 1e-2 of the heaviest (docs/benchmarks.md, "Pruning the cover") ...
COVER_BEAM, COVER_MIN_WEIGHT = 4, 1e-2
# ... and of the paths ending at one offset inside the prompt's tail (:meth:`ReducedModel.condition`): the 4
# heaviest, whatever their weight, since the rest of the tail can overturn any ratio: after "日本の首都は",
# SmolLM2's path through "日" as three bytes holds 99.9% of the mass, yet was under 1e-4 of the heaviest
# after its first byte (docs/benchmarks.md, "The prompt's end")
HEAL_BEAM, HEAL_MIN_WEIGHT = 4, 0.0
# the paths closed at the tail's end keep every next token (K = None): their truncated next-token laws, not the
# pruning, held most of K-LVR's distance from the exact law after a prompt (docs/benchmarks.md, "The prompt's end")
HEAL_K = None
MAX_NEW_BYTES = 200  # a generation's byte budget


def check_pruning(beam: int | None, min_weight: float) -> None:
    if beam is not None and (not isinstance(beam, int) or beam < 1):
        raise VocabLabError("beam (cover entries kept per step) must be a whole number of at least 1, or None")
    if not 0 <= min_weight < 1:
        raise VocabLabError("min_weight (a fraction of the heaviest cover entry) must be in [0, 1)")


@dataclass(frozen=True, kw_only=True)
class Decoding:
    """How reduced, ensembled and plain generation pick the next piece, and how K-LVR prunes the cover.

    ``k`` is K-LVR's number of next tokens kept per closed cover entry; ``None`` is the exact reduction,
    which prunes nothing (the other pruning settings are then ignored). ``beam``/``min_weight`` keep, of
    the entries about to close, the ``beam`` heaviest within ``min_weight`` of the heaviest;
    ``heal_beam``/``heal_min_weight`` do the same for the paths ending inside the prompt's tail, and the
    paths closed at its end keep their ``heal_k`` likeliest next tokens (None: all). Plain generation
    (the model as is) ignores the pruning.

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
    max_new_bytes: int = MAX_NEW_BYTES
    chat: bool = False
    heal: bool = True  # condition on the prompt's text, not on one tokenization of its end
    beam: int | None = COVER_BEAM
    min_weight: float = COVER_MIN_WEIGHT
    heal_beam: int | None = HEAL_BEAM
    heal_min_weight: float = HEAL_MIN_WEIGHT
    heal_k: int | None = HEAL_K

    def __post_init__(self) -> None:
        if self.k is not None and self.k < 1:
            raise VocabLabError("K (next tokens kept per cover entry) must be at least 1; exact mode prunes nothing")
        if self.max_new_bytes < 1:
            raise VocabLabError("the byte budget (new bytes to generate) must be at least 1")
        if not self.greedy and not (0 < self.temperature < math.inf and 0 < self.top_p <= 1):
            raise VocabLabError("the temperature must be a positive number and top-p in (0, 1]")
        check_pruning(self.beam, self.min_weight)
        check_pruning(self.heal_beam, self.heal_min_weight)
        if self.heal_k is not None and self.heal_k < 1:
            raise VocabLabError("heal_k (next tokens kept at the prompt's end) must be at least 1, or None")

    def pruning(self) -> dict:
        """The pruning arguments of :class:`~vocablab.reduce.lvr.ReducedModel`: none at all in exact mode."""
        if self.k is None:
            return {
                "k": None,
                "beam": None,
                "min_weight": 0.0,
                "heal_beam": None,
                "heal_min_weight": 0.0,
                "heal_k": None,
            }
        return {
            "k": self.k,
            "beam": self.beam,
            "min_weight": self.min_weight,
            "heal_beam": self.heal_beam,
            "heal_min_weight": self.heal_min_weight,
            "heal_k": self.heal_k,
        }


# Speculative decoding across tokenizers (vocablab speculate, draft-fit)
SPECULATE_GAMMA = 4  # symbols the draft proposes per round
MAX_GAMMA = 16  # each drafted symbol costs a draft step; past this the target rarely accepts them all
DRAFT_FIT_BYTES = 400  # draft-fit scores this many bytes of the text (a reduced step per symbol, both models)
DRAFT_FIT_GAMMAS = tuple(range(1, 9))  # draft lengths whose expected speed-up draft-fit tabulates

# The web app's heavy work in a worker process (vocablab.isolated): a lower CPU priority, so that the
# light views are served first, and one core fewer than the machine has, so that one is always free
# for them. VOCABLAB_HEAVY_NICE and VOCABLAB_HEAVY_THREADS override both.
HEAVY_NICE = int(os.environ.get("VOCABLAB_HEAVY_NICE", "10"))
MapProjection = Literal["pca", "umap"]  # how the transplant view's embedding map is drawn
MAP_PROJECTIONS: tuple[str, ...] = get_args(MapProjection)
MAP_POINTS = 2000  # rows on the embedding map (3 shared to 1 new)


def heavy_threads() -> int:
    """Torch threads of a heavy worker process: every core but one (at least one)."""
    if os.environ.get("VOCABLAB_HEAVY_THREADS"):
        return max(1, int(os.environ["VOCABLAB_HEAVY_THREADS"]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)
