"""vocablab speculate against transformers' assisted generation across tokenizers, in one run.

    python benchmarks/vs_assisted.py [--target gemma3-270m] [--draft smollm2-135m] [--prompts 3] [--bytes 48]

transformers: ``target.generate(ids, assistant_model=draft, tokenizer=target_tok,
assistant_tokenizer=draft_tok)``, greedy (the draft's text re-tokenized for the target) and sampling
(the draft's head pruned to the shared vocabulary, Timor et al. 2025). vocablab: ``speculate`` over
the MCV, greedy and sampling, with the target's plain reduced generation in the same call. Each row:
acceptance, target calls per byte, wall time, and whether the text equals the target's own greedy
text (``model.generate`` without a draft, over its own tokens; compared on the bytes both made) and,
for vocablab, the target's reduced greedy text. Target and draft calls are counted by a hook on each
model's forward (transformers gets a fresh copy of the draft per run: its sampling translator changes it). The
same loaded models serve every run; timings are per prompt, summed.
Also measures one single-token step of each model (median of 8), the cost ratio c of the formula.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from transformers import AutoTokenizer

from vocablab.options import Decoding
from vocablab.reduce.draft_fit import alpha_needed, speed_up
from vocablab.reduce.model import HFTokenModel
from vocablab.reduce.speculate import speculate
from vocablab.sources import load_causal_lm, resolve

PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a",
    "The three primary colours are",
    "def add(a, b):\n",
    "Water is made of",
]


class Calls:
    """Counts a model's forward calls (one per batch) and the tokens they run."""

    def __init__(self, model) -> None:
        self.count = self.tokens = 0
        model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.count += 1
        self.tokens += 0 if ids is None else ids.numel()


def step_ms(model, steps: int = 8) -> float:
    lm = HFTokenModel(model)
    state, times = lm.start([1, 450, 3303, 310]), []
    for token in range(500, 500 + steps):
        started = time.perf_counter()
        (state,) = lm.extend([(state, token)])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


@torch.no_grad()
def hf_generate(target, tok, prompt: str, new_tokens: int, **kwargs) -> tuple[bytes, float]:
    ids = tok(prompt, return_tensors="pt").input_ids
    torch.manual_seed(0)
    started = time.perf_counter()
    out = target.generate(
        ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, pad_token_id=tok.eos_token_id, **kwargs
    )
    seconds = time.perf_counter() - started
    return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True).encode("utf-8"), seconds


def agrees(a: bytes, b: bytes) -> bool:
    n = min(len(a), len(b))
    return n > 0 and a[:n] == b[:n]


class Table:
    """Rows summed over prompts: bytes, seconds, calls, agreement with the target's own greedy text."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def _row(self, name: str) -> dict:
        return self.rows.setdefault(name, {"bytes": 0, "seconds": 0.0, "target": 0, "draft": 0, "own": 0, "n": 0})

    def refused(self, name: str, exc: Exception) -> None:
        row = self._row(name)
        row["refused"] = row.get("refused", 0) + 1
        row["error"] = f"{type(exc).__name__}: {str(exc)[:120]}"

    def add(self, name: str, data: bytes, seconds: float, calls: tuple[int, int], own: bytes, **extra) -> None:
        row = self._row(name)
        for key, value in zip(("bytes", "seconds", "target", "draft"), (len(data), seconds, *calls), strict=True):
            row[key] += value
        row["own"] += agrees(data, own)
        row["n"] += 1
        for key, value in extra.items():
            row[key] = row.get(key, 0) + value

    def print(self) -> None:
        print(
            "| run | acceptance | target calls / byte | target tokens run / byte | draft calls | bytes | wall s "
            "| = target's own greedy |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, row in self.rows.items():
            if not row["n"]:
                print(f"| {name} | failed on every prompt: {row['error']} | | | | | | |")
                continue
            acceptance = f"{row['accepted'] / row['drafted']:.2f}" if row.get("drafted") else "n/a"
            own = f"{row['own']}/{row['n']}"
            if "same_reduced" in row and "greedy" in name:
                own += f" (reduced greedy: {row['same_reduced']}/{row['n']})"
            if row.get("refused"):
                own += f"; failed on {row['refused']} more prompt(s): {row['error']}"
            print(
                f"| {name} | {acceptance} | {row['target'] / max(row['bytes'], 1):.3f} | "
                f"{row['target_tokens'] / max(row['bytes'], 1):.3f} | {row['draft']} | "
                f"{row['bytes']} | {row['seconds']:.1f} | {own} |"
            )


def run_transformers(table: Table, models, toks, target_calls: Calls, prompt: str, new_tokens: int) -> bytes:
    """The target alone, then assisted greedy and sampling; returns the target's own greedy text.
    Each assisted run gets a fresh copy of the draft: the sampling translator rewrites its input
    embedding in place, after which greedy assisted generation fails on it."""
    target, hf_draft = models
    before = target_calls.count, target_calls.tokens
    own, seconds = hf_generate(target, toks[0], prompt, new_tokens, do_sample=False)
    used = target_calls.count - before[0], target_calls.tokens - before[1]
    table.add("transformers, target alone, greedy", own, seconds, (used[0], 0), own, target_tokens=used[1])
    for sample in (False, True):
        mode = "sampling" if sample else "greedy"
        draft = copy.deepcopy(hf_draft)
        draft_calls, before = Calls(draft), (target_calls.count, target_calls.tokens)
        assisted = {"assistant_model": draft, "tokenizer": toks[0], "assistant_tokenizer": toks[1]}
        try:
            data, seconds = hf_generate(target, toks[0], prompt, new_tokens, do_sample=sample, **assisted)
        except Exception as exc:  # noqa: BLE001 - report what transformers refuses, and go on
            table.refused(f"transformers assisted, {mode}", exc)
            continue
        used = target_calls.count - before[0], target_calls.tokens - before[1]
        table.add(f"transformers assisted, {mode}", data, seconds, (used[0], draft_calls.count), own,
                  target_tokens=used[1])  # fmt: skip
    return own


def run_vocablab(table: Table, args, models, prompt: str, own: bytes) -> None:
    for sample in (False, True):
        mode = "sampling" if sample else "greedy"
        result = speculate(
            args.target,
            args.draft,
            prompt,
            gamma=args.gamma,
            decoding=Decoding(greedy=not sample, max_new_bytes=args.bytes),
            target_model=models[0],
            draft_model=models[1],
        )
        same = int(bool(result.same_as_alone) and not sample)
        calls = (result.target_calls, result.draft_calls)
        table.add(f"vocablab speculate, {mode}", result.data, result.seconds, calls, own,
                  drafted=result.drafted, accepted=result.accepted, same_reduced=same,
                  target_tokens=result.target_passes)  # fmt: skip
        alone = result.alone
        table.add(f"vocablab target alone (reduced), {mode}", alone.text.encode(), alone.seconds,
                  (alone.target_calls, 0), own, target_tokens=alone.target_passes)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="gemma3-270m")
    parser.add_argument("--draft", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=48, help="bytes per output (tokens for transformers: bytes / 4)")
    parser.add_argument("--gamma", type=int, default=4)
    args = parser.parse_args()
    target, draft = load_causal_lm(args.target, device="cpu"), load_causal_lm(args.draft, device="cpu")
    hf_draft = copy.deepcopy(draft)  # transformers' own (its sampling translator changes its assistant)
    toks = [AutoTokenizer.from_pretrained(resolve(s).path) for s in (args.target, args.draft)]
    steps = [step_ms(target), step_ms(draft)]
    cost, table, calls = steps[1] / steps[0], Table(), Calls(target)
    for prompt in PROMPTS[: args.prompts]:
        own = run_transformers(table, (target, hf_draft), toks, calls, prompt, max(args.bytes // 4, 1))
        run_vocablab(table, args, (target, draft), prompt, own)
    print(
        f"target {args.target}, draft {args.draft}; one step: target {steps[0]:.0f} ms, draft {steps[1]:.0f} ms, "
        f"c = {cost:.2f}; a speed-up needs a mean alpha of at least {alpha_needed(cost) or float('nan'):.2f} "
        f"(gamma {args.gamma} at alpha 0.5 would give {speed_up(0.5, args.gamma, cost):.2f}x)\n"
    )
    table.print()


if __name__ == "__main__":
    main()
