"""Bits per byte of a text under a reduced model and under an ensemble (docs/methods.md §4, §5).

The text is scored along one segmentation into symbols: over bytes it is the only one; over a
larger sub-vocabulary it is the nested segmentation of the first model's own tokenization (stated
in the result). Every step's distribution is the exact one of its cover (no top-K). The cover is
pruned to the ``beam`` heaviest entries about to close, within ``min_weight`` of the heaviest, which
keeps the cost near one forward pass per token; the mass pruning removes is charged to the text,
so the score is the probability of the paths kept: a lower bound on the exact reduced probability
(bits per byte: an upper bound). ``beam=None, min_weight=0`` is the exact reduction (exponential).

A document a model's normalizer changes (Qwen's NFC composes "e" + U+0301 into "é") is scored, on
every side (reduced, own tokenizer, every member of an ensemble), as the tokenizers make of it: its
own-tokenizer score is that text's anyway. The result lists such documents (docs/methods.md §4).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch

from vocablab.errors import VocabLabError
from vocablab.evaluate import bits_per_byte
from vocablab.options import MCV_RULE, McvRule
from vocablab.pretty import normalized_documents_line, weights_text
from vocablab.progress import track
from vocablab.reduce.ensemble import normalized_weights, shared_space
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.model import HFTokenModel
from vocablab.reduce.prompt import as_tokenized
from vocablab.reduce.subvocab import SubVocabulary, check_reducible, parse_subvocab
from vocablab.sources import causal_lm, causal_lms, load_vocabulary

BEAM, MIN_WEIGHT = 8, 1e-3
NORMALIZING_ROUNDS = 4  # passes of every tokenizer over a document before their forms must agree
LN2 = math.log(2)


@dataclass
class ReducedScore:
    model: str
    subvocab: str
    segmentation: str
    reduced_bits_per_byte: float
    canonical_bits_per_byte: float
    n_bytes: int
    steps: int
    forward_passes: int
    beam: int | None
    min_weight: float
    normalized_documents: list[int] = field(default_factory=list)  # numbers (from 1) of those scored normalized

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"{self.model} reduced to {self.subvocab}: {self.reduced_bits_per_byte:.4f} bits per byte along "
            f"the {self.segmentation}; own tokenization: {self.canonical_bits_per_byte:.4f} "
            f"({self.n_bytes:,} bytes, {self.steps:,} steps, {self.forward_passes:,} forward passes)",
            *normalized_documents_line(self.normalized_documents),
        ]


@dataclass
class EnsembleScore:
    models: list[str]
    space: str
    segmentation: str
    weights: list[float]
    ensemble_bits_per_byte: float
    reduced_bits_per_byte: list[float]  # each model alone, reduced, along the same segmentation, pruning charged
    alone_bits_per_byte: list[float]  # each model alone, scored exactly as the ensemble is (weight 1 on it)
    canonical_bits_per_byte: list[float]  # each model alone with its own tokenization
    weight_sweep: list[tuple[float, float]]  # two models: (weight of the first, ensemble bits per byte)
    n_bytes: int
    steps: int
    forward_passes: int
    normalized_documents: list[int] = field(default_factory=list)  # numbers (from 1) of those scored normalized

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The ensemble's bits per byte, then each model's three ways, and the weight sweep of a pair."""
        out = [
            f"{' + '.join(self.models)} over {self.space} (weights {weights_text(self.weights)}), along the "
            f"{self.segmentation}: {self.ensemble_bits_per_byte:.4f} bits per byte "
            f"({self.n_bytes:,} bytes, {self.steps:,} steps)"
        ]
        each = zip(
            self.models, self.alone_bits_per_byte, self.reduced_bits_per_byte, self.canonical_bits_per_byte, strict=True
        )
        for name, alone, reduced, own in each:
            out.append(
                f"   {name}: alone, scored as the ensemble {alone:.4f}; reduced, pruning charged (an upper bound) "
                f"{reduced:.4f}; own tokenization {own:.4f}"
            )
        if self.weight_sweep:
            sweep = ", ".join(f"{w:.1f}: {b:.4f}" for w, b in self.weight_sweep)
            out.append(f"   weight of the first model -> bits per byte: {sweep}")
        return out + normalized_documents_line(self.normalized_documents)


def scored_texts(vocabs, documents: list[str]) -> tuple[list[str], list[int]]:
    """Each document as every one of the tokenizers leaves it unchanged (each applied in turn until
    none changes it), and the numbers (from 1) of the documents that this changed. A document whose
    tokenizers never agree is refused, named by its number."""
    texts, changed = [], []
    for number, text in enumerate(documents, 1):
        for _ in range(NORMALIZING_ROUNDS):
            forms = [text]
            for vocab in vocabs:
                forms.append(as_tokenized(vocab, forms[-1]))
            if forms[-1] == text and len(set(forms)) == 1:
                break
            text = forms[-1]
        else:
            raise VocabLabError(
                f"document {number} ({documents[number - 1][:40]!r}...) is rewritten by the tokenizers' normalizers "
                "in turn without end, so there is no one text that every model scores; normalize it first"
            )
        texts.append(text)
        if text != documents[number - 1]:
            changed.append(number)
    return texts, changed


def _segmentation(vocab, sub: SubVocabulary, text: str) -> list[int]:
    return [s for t in vocab.encode(text) for s in sub.nested[t]]


def _text_target(vocab, sub: SubVocabulary, text: str) -> list[int]:
    """The nested segmentation of ``vocab``'s own tokenization of ``text``, spelling exactly the
    text's bytes: a dummy-prefix tokenizer's leading space (Mistral, Llama 2) is taken off."""
    pieces = _segmentation(vocab, sub, text)
    first = sub.symbols[pieces[0]].data if pieces else None
    if vocab.dummy_prefix and first and first.startswith(b" "):
        pieces = sub.segment(first[1:]) + pieces[1:] if len(first) > 1 else pieces[1:]
    return pieces


def _step_logprobs(lm, vocab, sub: SubVocabulary, target: list[int], beam, min_weight, index=None):
    """Per symbol of ``target`` (the text's bytes, no dummy-prefix space): its reduced log-prob
    (full distribution, and restricted to ``index`` and renormalized when given); and the forward
    passes spent. A dummy-prefix model's cover is first conditioned on the space it writes before
    any text."""
    reduced = ReducedModel(lm, sub, [vocab.start_id], k=None, beam=beam, min_weight=min_weight)
    if vocab.dummy_prefix:
        reduced.condition(b" ")
    full, restricted = [], []
    for symbol in target:
        dist = reduced.ready(symbol)
        full.append(dist[symbol].item())
        if index is not None:
            shared = dist[index]
            restricted.append((shared - torch.logsumexp(shared, 0))[(index == symbol).nonzero()[0, 0]].item())
        reduced.advance(symbol)
    full[-1] += reduced.log_kept  # charge what pruning dropped (the ensemble's restricted steps stay as they are)
    return full, restricted, reduced.forward_passes


def reduced_bits_per_byte(
    model_spec: str,
    documents: list[str],
    *,
    subvocab: str | SubVocabulary = "bytes",
    mcv_rule: McvRule = MCV_RULE,
    beam: int | None = BEAM,
    min_weight: float = MIN_WEIGHT,
    model=None,
    device: str = "auto",
) -> ReducedScore:
    """Bits per byte of ``documents`` under ``model_spec`` reduced to ``subvocab``, next to its own."""
    vocab = load_vocabulary(model_spec)
    check_reducible(vocab)
    documents, normalized = scored_texts([vocab], documents)
    sub = subvocab if isinstance(subvocab, SubVocabulary) else parse_subvocab(subvocab, vocab, mcv_rule=mcv_rule)
    model = causal_lm(model_spec, model, device=device)
    lm = HFTokenModel(model)
    nats, steps, passes = 0.0, 0, 0
    for text in track(documents, f"scoring {vocab.name} over {sub.name}", unit="document"):
        target = _text_target(vocab, sub, text)
        full, _, used = _step_logprobs(lm, vocab, sub, target, beam, min_weight)
        nats -= math.fsum(full)
        steps, passes = steps + len(target), passes + used
    n_bytes = sum(len(t.encode("utf-8")) for t in documents)
    canonical = bits_per_byte(model_spec, documents, model=model).bits_per_byte
    return ReducedScore(
        vocab.name,
        sub.name,
        _segmentation_name(sub.name, vocab.name),
        nats / LN2 / n_bytes,
        canonical,
        n_bytes,
        steps,
        passes,
        beam,
        min_weight,
        normalized,
    )


def _segmentation_name(space: str, first: str) -> str:
    return "bytes" if space == "bytes" else f"nested segmentation of {first}'s own tokenization"


def ensemble_bits_per_byte(
    model_specs: list[str],
    documents: list[str],
    *,
    space: str = "mcv",
    mcv_rule: McvRule = MCV_RULE,
    weights: list[float] | None = None,
    beam: int | None = BEAM,
    min_weight: float = MIN_WEIGHT,
    models: list | None = None,
    device: str = "auto",
) -> EnsembleScore:
    """Bits per byte of ``documents`` under the ensemble of ``model_specs`` over ``space``, with each
    member alone (reduced, and with its own tokenizer) and, for two models, a sweep of weights."""
    vocabs = [load_vocabulary(spec) for spec in model_specs]
    for vocab in vocabs:
        check_reducible(vocab)
    documents, normalized = scored_texts(vocabs, documents)
    weights = normalized_weights(weights, len(vocabs))
    shared = shared_space(vocabs, space, mcv_rule)
    models = causal_lms(model_specs, models, device=device)
    lms = [HFTokenModel(m) for m in models]
    member_nats = [0.0] * len(vocabs)
    restricted_steps: list[list[float]] = [[] for _ in vocabs]  # per member, per step of all documents
    passes = 0
    for text in track(documents, f"scoring the ensemble over {space}", unit="document"):
        target = shared.from_member(0, _text_target(vocabs[0], shared.subs[0], text))
        for m, (lm, vocab, sub) in enumerate(zip(lms, vocabs, shared.subs, strict=True)):
            own = shared.to_member(m, target)
            full, restricted, used = _step_logprobs(lm, vocab, sub, own, beam, min_weight, shared.member_index[m])
            member_nats[m] -= math.fsum(full)
            restricted_steps[m] += restricted
            passes += used
    n_bytes = sum(len(t.encode("utf-8")) for t in documents)
    per_step = torch.tensor(restricted_steps, dtype=torch.float64)  # members x steps

    def mixture_bpb(w: list[float]) -> float:
        logw = torch.tensor([math.log(x) if x > 0 else -math.inf for x in w], dtype=torch.float64).unsqueeze(1)
        return -torch.logsumexp(per_step + logw, 0).sum().item() / LN2 / n_bytes

    sweep = [(x / 10, mixture_bpb([x / 10, 1 - x / 10])) for x in range(11)] if len(vocabs) == 2 else []
    canonical = [bits_per_byte(s, documents, model=m).bits_per_byte for s, m in zip(model_specs, models, strict=True)]
    return EnsembleScore(
        models=[v.name for v in vocabs],
        space=space,
        segmentation=_segmentation_name(space, vocabs[0].name),
        weights=weights,
        ensemble_bits_per_byte=mixture_bpb(weights),
        reduced_bits_per_byte=[x / LN2 / n_bytes for x in member_nats],
        alone_bits_per_byte=[mixture_bpb([float(m == i) for m in range(len(vocabs))]) for i in range(len(vocabs))],
        canonical_bits_per_byte=canonical,
        weight_sweep=sweep,
        n_bytes=n_bytes,
        steps=per_step.shape[1],
        forward_passes=passes,
        normalized_documents=normalized,
    )
