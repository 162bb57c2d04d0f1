"""Scorecards: several models, each with its own tokenizer, on a corpus (bits per byte) and on the
digit probe, so a transplant reads beside its base on more than one sentence (docs/methods.md §0.1).

    vocablab probe gemma3-270m out/gemma-smoltok            # the CLI
    cards = score_models(["gemma3-270m", "out/gemma-smoltok"])
"""

from __future__ import annotations

from dataclasses import dataclass

from vocablab.digit_probe import DIGIT_PROBES, DigitProbeScore, check_probes, probe_model
from vocablab.errors import VocabLabError
from vocablab.evaluate import BitsPerByte, bits_per_byte, corpus_documents
from vocablab.options import CORPUS, CORPUS_DOCUMENTS
from vocablab.sources import causal_lms


@dataclass
class Scorecard:
    """One model: its bits per byte on the corpus and its digit probe (either may be absent)."""

    model: str
    corpus: BitsPerByte | None
    digits: DigitProbeScore | None

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "corpus": self.corpus.to_dict() if self.corpus else None,
            "digits": self.digits.to_dict() if self.digits else None,
        }


def score_models(
    specs: list[str],
    *,
    corpus: str | None = CORPUS,
    documents: int = CORPUS_DOCUMENTS,
    probes=DIGIT_PROBES,
    models: list | None = None,
    device: str = "auto",
    trust_remote_code: bool = False,
) -> list[Scorecard]:
    """A scorecard per model: bits per byte on the first ``documents`` of ``corpus`` (a text preset or
    a UTF-8 file, one document a line; None: no corpus score) and the digit probe (``probes`` None: none)."""
    if corpus is None and probes is None:
        raise VocabLabError("nothing to score: give a corpus, the digit probe, or both")
    texts = corpus_documents(corpus, documents) if corpus is not None else None
    probes = check_probes(probes) if probes is not None else None  # refused before any model loads
    loaded = causal_lms(specs, models, device=device, trust_remote_code=trust_remote_code)
    cards = []
    for spec, model in zip(specs, loaded, strict=True):
        options = {"device": device, "trust_remote_code": trust_remote_code, "model": model}
        score = bits_per_byte(spec, texts, **options) if texts is not None else None
        digits = probe_model(spec, probes, **options) if probes is not None else None
        cards.append(Scorecard(spec, score, digits))
    return cards


def scorecard_lines(cards: list[Scorecard], labels: list[str] | None = None) -> list[str]:
    """A table: a row per model, its corpus and digit-probe scores."""
    labels = labels or [card.model for card in cards]
    width = max(len(label) for label in [*labels, "model"])
    rows = [f"{'model':{width}}  {'corpus bpb':>10}  {'digit bpb':>9}  {'digits exact':>12}"]
    for label, card in zip(labels, cards, strict=True):
        corpus = f"{card.corpus.bits_per_byte:10.4f}" if card.corpus else f"{'-':>10}"
        digits = f"{card.digits.bits_per_byte:9.4f}" if card.digits else f"{'-':>9}"
        exact = f"{card.digits.exact}/{card.digits.n_probes}" if card.digits else "-"
        rows.append(f"{label:{width}}  {corpus}  {digits}  {exact:>12}")
    first = next((card.corpus for card in cards if card.corpus), None)
    if first:
        rows.append(f"corpus: {first.n_documents} documents, {first.n_bytes:,} bytes; bpb: bits per byte")
    return rows
