"""Bits per byte of a causal LM on text, with its own tokenizer (docs/methods.md §0).

bits per byte = total negative log2-likelihood of the text / number of UTF-8 bytes of the text.
Each document (one per line of a file) is scored on its own, after the model's BOS token (or, for
tokenizers without one, its EOS token, the usual document separator), so every byte of the text
is predicted. Long documents are scored in windows of the model's context that overlap by half.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from vocablab.errors import VocabLabError
from vocablab.options import check_length
from vocablab.presets import TEXT_PRESETS, ensure_text
from vocablab.pretty import plural
from vocablab.progress import check_stop, track
from vocablab.sources import Source, causal_lm, causal_lms, load_vocabulary, resolve, same_model
from vocablab.vocab import Vocabulary

MAX_WINDOW = 2048


@dataclass
class BitsPerByte:
    model: str
    bits_per_byte: float
    total_bits: float
    n_bytes: int
    n_tokens: int
    n_documents: int

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"{self.model}: {self.bits_per_byte:.4f} bits per byte ({plural(self.n_documents, 'document')}, "
            f"{self.n_bytes:,} bytes, {self.n_tokens:,} tokens)"
        ]


def read_documents(path: str | Path | list[str], limit: int | None = None) -> list[str]:
    """Non-empty lines of a UTF-8 text file, or non-empty documents of a list (the first ``limit``)."""
    if limit is not None and limit < 1:
        raise VocabLabError("the document limit must be at least 1")
    if isinstance(path, list):
        lines, where = path, "the documents given"
    else:
        try:
            lines = Path(path).read_text(encoding="utf-8-sig").splitlines()  # a byte-order mark is not text
        except (OSError, UnicodeDecodeError) as exc:
            raise VocabLabError(f"cannot read {path}: {exc}") from exc
        where = path
    documents = [line for line in lines if line.strip()]
    if not documents:
        raise VocabLabError(f"no text in {where}")
    return documents[:limit]


def corpus_documents(corpus: str, limit: int | None = None) -> list[str]:
    """The first ``limit`` documents of a corpus: a text preset (fetched once) or a UTF-8 file."""
    if corpus in TEXT_PRESETS:
        return read_documents(ensure_text(corpus), limit)
    if not Path(corpus).is_file():
        raise VocabLabError(
            f"unknown corpus {corpus!r}: give a text preset ({', '.join(TEXT_PRESETS)}) "
            "or a UTF-8 file with one document a line"
        )
    return read_documents(corpus, limit)


@torch.no_grad()
def document_bits(model, vocab: Vocabulary, text: str, window: int = MAX_WINDOW) -> tuple[float, int]:
    """Negative log2-likelihood of one document and its number of tokens."""
    device = next(model.parameters()).device
    ids = [vocab.start_id, *vocab.encode(text)]
    limit = getattr(model.config, "max_position_embeddings", window) or window
    window = max(2, min(window, limit))
    stride = max(1, window // 2)
    nats = 0.0
    scored = 1  # the start token is given, not predicted
    while scored < len(ids):
        begin = max(0, scored - (window - stride)) if scored > 1 else 0
        end = min(len(ids), begin + window)
        chunk = torch.tensor([ids[begin:end]], device=device)
        logits = model(chunk).logits[0].float()
        log_probs = torch.log_softmax(logits[:-1], dim=-1)
        targets = chunk[0, 1:]
        token_nats = -log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)
        nats += token_nats[scored - begin - 1 :].sum().item()
        scored = end
    return nats / math.log(2), len(ids) - 1


def bits_per_byte(
    model_spec: str | Source,
    documents: list[str],
    *,
    device: str = "auto",
    trust_remote_code: bool = False,
    model=None,
) -> BitsPerByte:
    """Bits per byte of a model on ``documents`` (pass ``model`` to reuse one already loaded).

    >>> score = bits_per_byte("smollm2-135m", ["The capital of France is Paris."])
    >>> round(score.bits_per_byte, 2), score.n_bytes
    (1.48, 31)
    """
    if isinstance(documents, str):
        documents = [documents]  # one document, not one per character
    if not any(documents):
        raise VocabLabError("no text to score")
    source = resolve(model_spec, need="model", trust_remote_code=trust_remote_code)
    vocab = load_vocabulary(source, trust_remote_code=trust_remote_code)
    model = causal_lm(source, model, device=device, trust_remote_code=trust_remote_code)
    total_bits, n_tokens = 0.0, 0
    for text in track(documents, f"scoring {source.spec}", unit="document"):
        check_stop()  # between documents: Stop in the app, or its visitor gone
        bits, tokens = document_bits(model, vocab, text)
        total_bits += bits
        n_tokens += tokens
    n_bytes = sum(len(t.encode("utf-8")) for t in documents)
    return BitsPerByte(source.spec, total_bits / n_bytes, total_bits, n_bytes, n_tokens, len(documents))


@torch.no_grad()
def greedy_continuation(model, vocab: Vocabulary, prompt: str, max_new_tokens: int = 30) -> str:
    """The model's greedy continuation of ``prompt`` (after its start token), as text."""
    if not prompt.strip():
        raise VocabLabError("the prompt is empty")
    device = next(model.parameters()).device
    ids = torch.tensor([[vocab.start_id, *vocab.encode(prompt)]], device=device)
    eos = vocab.roles.get("eos")
    out = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=vocab.roles.get("pad", eos),
    )
    return vocab.decode([i for i in out[0, ids.shape[1] :].tolist() if i != eos])


@dataclass
class BeforeAfter:
    """A model and its transplanted version on the same text: bits per byte and a greedy continuation."""

    base: str
    transplanted: str
    text_bytes: int
    bits_per_byte: dict[str, float]  # "base", "transplanted"
    tokens: dict[str, int]
    continuations: dict[str, str]
    warnings: list[str] = field(default_factory=list)  # e.g. a transplant of another base

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self, prompt: str) -> list[str]:
        """A row per model (bits per byte, tokens, the continuation of ``prompt``) and the transplant's cost."""
        out = [f"{'model':13} {'bits per byte':>13} {'tokens':>7}  greedy continuation of {prompt!r}"]
        for label, spec in (("base", self.base), ("transplanted", self.transplanted)):
            out.append(
                f"{label:13} {self.bits_per_byte[label]:13.4f} {self.tokens[label]:7,}  "
                f"{self.continuations[label]!r}   ({spec})"
            )
        cost = self.bits_per_byte["transplanted"] - self.bits_per_byte["base"]
        return [*out, f"cost of the transplant: {cost:+.4f} bits per byte on {self.text_bytes:,} bytes"]


def _other_base(base: str, transplanted: str) -> str | None:
    """A warning when ``transplanted`` is a vocablab transplant whose report names another base."""
    from vocablab.surgery.engine import REPORT

    report = resolve(transplanted).path / REPORT
    try:
        recorded = json.loads(report.read_text()).get("base")
    except (OSError, ValueError, AttributeError):
        return None  # not a vocablab transplant (or made by another tool): nothing to check against
    if not isinstance(recorded, str) or same_model(recorded, resolve(base)):
        return None
    return (
        f"{transplanted} is a transplant of {recorded!r}, not of {base!r}: "
        "the difference is not the cost of a transplant"
    )


def compare_before_after(
    base: str,
    transplanted: str,
    text: str,
    prompt: str,
    *,
    max_new_tokens: int = 30,
    models: tuple | None = None,
    device: str = "auto",
    trust_remote_code: bool = False,
) -> BeforeAfter:
    """Score ``text`` and continue ``prompt`` with the base model and with a transplant of it (each
    with its own tokenizer), so the cost of the transplant reads in bits per byte."""
    if not text.strip():
        raise VocabLabError("give a text to score")
    check_length(text)
    if not prompt.strip():
        raise VocabLabError("the prompt is empty")
    result = BeforeAfter(base, transplanted, len(text.encode("utf-8")), {}, {}, {})
    if warning := _other_base(base, transplanted):
        result.warnings.append(warning)
    pair = causal_lms([base, transplanted], models, device=device, trust_remote_code=trust_remote_code)
    for n, (label, spec) in enumerate(track([("base", base), ("transplanted", transplanted)], "before/after")):
        model = pair[n]
        score = bits_per_byte(spec, [text], model=model, trust_remote_code=trust_remote_code)
        result.bits_per_byte[label] = score.bits_per_byte
        result.tokens[label] = score.n_tokens
        vocab = load_vocabulary(spec, trust_remote_code=trust_remote_code)
        result.continuations[label] = greedy_continuation(model, vocab, prompt, max_new_tokens)
    return result
