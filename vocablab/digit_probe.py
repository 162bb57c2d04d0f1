"""A digit probe: how well a causal LM continues short number prompts (arithmetic, years, counting),
scored per byte of the right answer and by greedy exact match (docs/methods.md §0.1).

A transplant that changes how numbers are split (one digit a token against groups of three) can
keep its corpus score and still lose its arithmetic; a corpus has too few numbers to show it.

    >>> from vocablab.digit_probe import probe_model
    >>> score = probe_model("smollm2-135m", [("3 + 4 = 7\\n12 + 35 =", " 47")])
    >>> score.n_bytes, score.items[0]["greedy"].strip(), score.exact  # SmolLM2-135M answers 42
    (3, '42', 0)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from vocablab.errors import VocabLabError
from vocablab.progress import check_stop, track
from vocablab.sources import causal_lm, load_vocabulary, resolve
from vocablab.vocab import Vocabulary

Probe = tuple[str, str]  # (prompt, the right continuation, starting with its space)

# Written for this probe: each answer is a number, so each model is charged only for its digits (and
# the space before them). Arithmetic prompts show one solved line first, as a small model needs a format.
DIGIT_PROBES: tuple[Probe, ...] = (
    ("3 + 4 = 7\n12 + 35 =", " 47"),
    ("3 + 4 = 7\n48 + 27 =", " 75"),
    ("3 + 4 = 7\n99 + 1 =", " 100"),
    ("3 + 4 = 7\n123 + 456 =", " 579"),
    ("3 + 4 = 7\n250 + 250 =", " 500"),
    ("3 + 4 = 7\n1000 + 2345 =", " 3345"),
    ("9 - 2 = 7\n100 - 1 =", " 99"),
    ("9 - 2 = 7\n85 - 40 =", " 45"),
    ("2 * 3 = 6\n7 * 8 =", " 56"),
    ("2 * 3 = 6\n12 * 12 =", " 144"),
    ("The year after 1999 is", " 2000"),
    ("The year after 2024 is", " 2025"),
    ("The year before 1900 was", " 1899"),
    ("1, 2, 3, 4, 5,", " 6"),
    ("10, 20, 30, 40,", " 50"),
    ("100, 200, 300,", " 400"),
    ("1000, 2000, 3000,", " 4000"),
    ("2, 4, 8, 16, 32,", " 64"),
    ("Half of 50 is", " 25"),
    ("Double 128 is", " 256"),
    ("One dozen is", " 12"),
    ("A century is a period of", " 100"),
)


@dataclass
class DigitProbeScore:
    """One model on a list of probes: bits per byte of the right answers and greedy exact matches."""

    model: str
    bits_per_byte: float
    total_bits: float
    n_bytes: int  # UTF-8 bytes of all the answers
    exact: int  # probes whose greedy continuation is the answer (and no further digit)
    n_probes: int
    items: list[dict] = field(default_factory=list)  # per probe: prompt, answer, bits, greedy, exact

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"{self.model}: digit probe {self.bits_per_byte:.4f} bits per byte of the answers, "
            f"{self.exact}/{self.n_probes} exact by greedy decoding"
        ]


def check_probes(probes) -> list[Probe]:
    """``probes`` as a list of (prompt, answer) pairs with text in both, or a clear refusal."""
    probes = list(probes)
    if not probes:
        raise VocabLabError("the digit probe list is empty: give at least one (prompt, answer) pair")
    for n, probe in enumerate(probes, 1):
        if len(probe) != 2 or not all(isinstance(part, str) and part.strip() for part in probe):
            raise VocabLabError(f"digit probe {n} needs a prompt and an answer, both with text: {probe!r}")
    return [(prompt, answer) for prompt, answer in probes]


def read_probes(path: str | Path) -> list[Probe]:
    """Probes from a UTF-8 file: one a line, the prompt and the answer separated by a tab (``\\n`` in a
    prompt stands for a line break)."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabLabError(f"cannot read {path}: {exc}") from exc
    probes = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.count("\t") != 1:
            raise VocabLabError(f"{path}, line {n}: give the prompt and the answer separated by one tab")
        prompt, answer = line.split("\t")
        probes.append((prompt.replace("\\n", "\n"), answer))
    if not probes:
        raise VocabLabError(f"no probes in {path}: one a line, prompt<TAB>answer")
    return check_probes(probes)


def last_logits(model, ids: list[int], keep: int) -> torch.Tensor:
    """The logits of the last ``keep`` positions: Gemma's 262k-row head on every position of each
    greedy step was most of the probe's time (transformers' ``logits_to_keep``; a model's own code
    without it gets every position)."""
    batch = torch.tensor([ids], device=next(model.parameters()).device)
    try:
        logits = model(batch, logits_to_keep=keep).logits[0]
    except TypeError:
        logits = model(batch).logits[0]
    return logits[-keep:].float()


@torch.no_grad()
def answer_bits(model, vocab: Vocabulary, prompt: str, answer: str) -> float:
    """-log2 P(answer | prompt) under the canonical tokenization of prompt + answer, after the start
    token. The answer's tokens are those that end past the prompt's bytes: a token that straddles the
    boundary counts as the answer's (it has to be predicted to produce the answer's first bytes)."""
    ids = [vocab.start_id, *vocab.encode(prompt + answer)]
    prompt_bytes = len(prompt.encode("utf-8"))
    ends = [end for _, end in vocab.byte_spans(ids[1:])]
    first = 1 + next(n for n, end in enumerate(ends) if end > prompt_bytes)  # the first answer token
    log_probs = torch.log_softmax(last_logits(model, ids, len(ids) - first + 1)[:-1], dim=-1)
    targets = torch.tensor(ids[first:], device=log_probs.device)
    return -log_probs.gather(1, targets.unsqueeze(1)).sum().item() / math.log(2)


@torch.no_grad()
def greedy_bytes(model, vocab: Vocabulary, prompt: str, max_bytes: int) -> bytes:
    """The greedy continuation of ``prompt`` as bytes, until it has ``max_bytes`` or a special token."""
    ids = [vocab.start_id, *vocab.encode(prompt)]
    out = b""
    while len(out) < max_bytes:
        logits = last_logits(model, ids, 1)[0]
        best = int(logits[: len(vocab)].argmax())  # rows past the tokenizer (padding) are no token
        piece = vocab.pieces[best]
        if piece is None:  # end of text, or another special token
            break
        out += piece
        ids.append(best)
    return out


def is_exact(continuation: bytes, answer: str) -> bool:
    """The continuation gives the answer and does not go on with another digit ("470" is not "47")."""
    expected = answer.encode("utf-8")
    return continuation.startswith(expected) and not continuation[len(expected) : len(expected) + 1].isdigit()


def probe_model(
    model_spec: str,
    probes=DIGIT_PROBES,
    *,
    device: str = "auto",
    trust_remote_code: bool = False,
    model=None,
) -> DigitProbeScore:
    """A model (with its own tokenizer) on ``probes`` (pass ``model`` to reuse one already loaded)."""
    probes = check_probes(probes)
    source = resolve(model_spec, need="model", trust_remote_code=trust_remote_code)
    vocab = load_vocabulary(source, trust_remote_code=trust_remote_code)
    model = causal_lm(source, model, device=device, trust_remote_code=trust_remote_code)
    items = []
    for prompt, answer in track(probes, f"digit probe of {source.spec}", unit="probe"):
        check_stop()
        bits = answer_bits(model, vocab, prompt, answer)
        # one byte past the answer, to see a digit that would make it wrong
        greedy = greedy_bytes(model, vocab, prompt, len(answer.encode("utf-8")) + 1)
        exact = is_exact(greedy, answer)
        text = greedy.decode("utf-8", errors="replace")
        items.append({"prompt": prompt, "answer": answer, "bits": bits, "greedy": text, "exact": exact})
    total = sum(item["bits"] for item in items)
    n_bytes = sum(len(answer.encode("utf-8")) for _, answer in probes)
    exact = sum(item["exact"] for item in items)
    return DigitProbeScore(source.spec, total / n_bytes, total, n_bytes, exact, len(probes), items)
