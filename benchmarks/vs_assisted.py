"""vocablab speculate against transformers' assisted generation across tokenizers, in one run.

    python benchmarks/vs_assisted.py [--target gemma3-270m] [--draft smollm2-135m] [--prompts 3] [--bytes 48]

transformers: ``target.generate(ids, assistant_model=draft, tokenizer=target_tok,
assistant_tokenizer=draft_tok)``, greedy (the draft's text re-tokenized for the target) and sampling
(the draft's head pruned to the shared vocabulary, Timor et al. 2025). vocablab: ``speculate`` over
the MCV, greedy and sampling, with the target's plain reduced generation in the same call. Each row:
acceptance, target calls per byte, wall time, and whether the text equals the target's own greedy
text (``model.generate`` without a draft, over its own tokens; compared on the bytes both made) and,
for vocablab, the target's reduced greedy text. Target and draft calls are counted by a hook on each
model's forward. The same loaded models serve every run; timings are per prompt, summed.
Also measures one single-token step of each model (median of 8), the cost ratio c of the formula.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import AutoTokenizer

from vocablab.reduce.draft_fit import alpha_needed, speed_up
from vocablab.reduce.generate import HFTokenModel
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
    """Counts a model's forward calls (one per batch)."""

    def __init__(self, model) -> None:
        self.count = 0
        model.register_forward_pre_hook(self._hook)

    def _hook(self, module, args) -> None:
        self.count += 1


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="gemma3-270m")
    parser.add_argument("--draft", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=48, help="bytes per output (tokens for transformers: bytes / 4)")
    parser.add_argument("--gamma", type=int, default=4)
    args = parser.parse_args()
    target, draft = load_causal_lm(args.target, device="cpu"), load_causal_lm(args.draft, device="cpu")
    toks = [AutoTokenizer.from_pretrained(resolve(s).path) for s in (args.target, args.draft)]
    calls = [Calls(target), Calls(draft)]
    steps = [step_ms(target), step_ms(draft)]
    cost = steps[1] / steps[0]
    rows: dict[str, dict] = {}

    def add(name: str, data: bytes, seconds: float, target_calls: int, draft_calls: int, own: bytes, **extra) -> None:
        row = rows.setdefault(name, {"bytes": 0, "seconds": 0.0, "target": 0, "draft": 0, "own": 0, "n": 0})
        row["bytes"] += len(data)
        row["seconds"] += seconds
        row["target"] += target_calls
        row["draft"] += draft_calls
        row["own"] += agrees(data, own)
        row["n"] += 1
        for key, value in extra.items():
            row[key] = row.get(key, 0) + value

    new_tokens = max(args.bytes // 4, 1)
    for prompt in PROMPTS[: args.prompts]:
        counted = [c.count for c in calls]
        own, seconds = hf_generate(target, toks[0], prompt, new_tokens, do_sample=False)
        add("transformers, target alone, greedy", own, seconds, calls[0].count - counted[0], 0, own)
        for sample in (False, True):
            counted = [c.count for c in calls]
            mode = "sampling" if sample else "greedy"
            try:
                data, seconds = hf_generate(
                    target,
                    toks[0],
                    prompt,
                    new_tokens,
                    do_sample=sample,
                    assistant_model=draft,
                    tokenizer=toks[0],
                    assistant_tokenizer=toks[1],
                )
            except Exception as exc:  # noqa: BLE001 - report what transformers refuses, and go on
                rows[f"transformers assisted, {mode}"] = {"error": f"{type(exc).__name__}: {str(exc)[:120]}"}
                continue
            used = [c.count - n for c, n in zip(calls, counted, strict=True)]
            add(f"transformers assisted, {mode}", data, seconds, *used, own)
        for sample in (False, True):
            mode = "sampling" if sample else "greedy"
            result = speculate(
                args.target,
                args.draft,
                prompt,
                gamma=args.gamma,
                greedy=not sample,
                seed=0,
                max_new_bytes=args.bytes,
                target_model=target,
                draft_model=draft,
            )
            alone = result.alone
            same = int(result.same_as_alone and not sample)
            add(
                f"vocablab speculate, {mode}",
                result.data,
                result.seconds,
                result.target_calls,
                result.draft_calls,
                own,
                drafted=result.drafted,
                accepted=result.accepted,
                same_reduced=same,
            )
            add(
                f"vocablab target alone (reduced), {mode}",
                alone.text.encode(),
                alone.seconds,
                alone.target_calls,
                0,
                own,
            )
    print(
        f"target {args.target}, draft {args.draft}; one step: target {steps[0]:.0f} ms, draft {steps[1]:.0f} ms, "
        f"c = {cost:.2f}; a speed-up needs a mean alpha of at least {alpha_needed(cost) or float('nan'):.2f} "
        f"(gamma {args.gamma} at alpha 0.5 would give {speed_up(0.5, args.gamma, cost):.2f}x)\n"
    )
    print("| run | acceptance | target calls / byte | draft calls | bytes | wall s | = target's own greedy |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        if "error" in row:
            print(f"| {name} | refused: {row['error']} | | | | | |")
            continue
        acceptance = f"{row['accepted'] / row['drafted']:.2f}" if row.get("drafted") else "n/a"
        own = f"{row['own']}/{row['n']}"
        if "same_reduced" in row and "greedy" in name:
            own += f" (reduced greedy: {row['same_reduced']}/{row['n']})"
        print(
            f"| {name} | {acceptance} | {row['target'] / max(row['bytes'], 1):.3f} | {row['draft']} | "
            f"{row['bytes']} | {row['seconds']:.1f} | {own} |"
        )


if __name__ == "__main__":
    main()
