"""vocablab speculate against transformers' assisted generation across tokenizers, in one run.

    python benchmarks/vs_assisted.py [--target gemma3-270m] [--draft smollm2-135m] [--prompts 3] [--bytes 48]
        [--transplant-method omp] [--transplant-k 8] [--transplanted FOLDER] [--no-transplant]

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

The transplanted route: the draft given the target's tokenizer by ``vocablab transplant`` (made once
into FOLDER, by default under the temp folder, the command printed; an existing folder is reused), so
both share one tokenizer. transformers then runs its same-tokenizer assisted generation
(``assistant_model`` alone), and vocablab's speculate reduces both to their MCV, which for one
tokenizer is its whole vocabulary: it drafts and verifies the target's own tokens. With Gemma's
262k-token vocabulary as the donor, OMP at k = 8 is about 1e14 FLOP (some 30 CPU-minutes on a
2-core CPU); ``--transplant-method subword`` takes under a minute of CPU (docs/benchmarks.md).
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
            "| s / byte | = target's own greedy |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, row in self.rows.items():
            if not row["n"]:
                print(f"| {name} | failed on every prompt: {row['error']} | | | | | | | |")
                continue
            acceptance = f"{row['accepted'] / row['drafted']:.2f}" if row.get("drafted") else "-"
            own = f"{row['own']}/{row['n']}" if "greedy" in name else "-"  # sampling is not meant to match it
            if "same_reduced" in row and "greedy" in name:
                own += f" (reduced greedy: {row['same_reduced']}/{row['n']})"
            if row.get("refused"):
                own += f"; failed on {row['refused']} more prompt(s): {row['error']}"
            print(
                f"| {name} | {acceptance} | {row['target'] / max(row['bytes'], 1):.3f} | "
                f"{row['target_tokens'] / max(row['bytes'], 1):.3f} | {row['draft']} | "
                f"{row['bytes']} | {row['seconds']:.1f} | {row['seconds'] / max(row['bytes'], 1):.3f} | {own} |"
            )


def run_target_alone(table: Table, target, tok, target_calls: Calls, prompt: str, new_tokens: int) -> bytes:
    """The target's own greedy text (``model.generate`` without a draft), timed and counted."""
    before = target_calls.count, target_calls.tokens
    own, seconds = hf_generate(target, tok, prompt, new_tokens, do_sample=False)
    used = target_calls.count - before[0], target_calls.tokens - before[1]
    table.add("transformers, target alone, greedy", own, seconds, (used[0], 0), own, target_tokens=used[1])
    return own


def run_assisted(table: Table, route: Route, target, toks, target_calls: Calls, prompt: str, new_tokens: int,
                 own: bytes) -> None:  # fmt: skip
    """Assisted greedy and sampling. Each run gets a fresh copy of the draft: the sampling translator
    rewrites its input embedding in place, after which greedy assisted generation fails on it. A
    draft with the target's tokenizer runs transformers' same-tokenizer mode (no tokenizers given)."""
    for sample in (False, True):
        name = f"transformers assisted{route.label}, {'sampling' if sample else 'greedy'}"
        draft = copy.deepcopy(route.hf_draft)
        draft_calls, before = Calls(draft), (target_calls.count, target_calls.tokens)
        assisted = {"assistant_model": draft}
        if not route.same_tokenizer:
            assisted |= {"tokenizer": toks[0], "assistant_tokenizer": toks[1]}
        try:
            data, seconds = hf_generate(target, toks[0], prompt, new_tokens, do_sample=sample, **assisted)
        except Exception as exc:  # noqa: BLE001 - report what transformers refuses, and go on
            table.refused(name, exc)
            continue
        used = target_calls.count - before[0], target_calls.tokens - before[1]
        table.add(name, data, seconds, (used[0], draft_calls.count), own, target_tokens=used[1])


def run_vocablab(table: Table, args, route: Route, target, prompt: str, own: bytes) -> None:
    """speculate greedy and sampling; beside the MCV route, the target's reduced generation alone."""
    for sample in (False, True):
        mode = "sampling" if sample else "greedy"
        result = speculate(
            args.target,
            route.spec,
            prompt,
            gamma=args.gamma,
            decoding=Decoding(greedy=not sample, max_new_bytes=args.bytes),
            alone=not route.same_tokenizer,
            target_model=target,
            draft_model=route.draft,
        )
        same = int(bool(result.same_as_alone) and not sample)
        calls = (result.target_calls, result.draft_calls)
        extra = {} if route.same_tokenizer else {"same_reduced": same}
        table.add(f"vocablab speculate{route.label}, {mode}", result.data, result.seconds, calls, own,
                  drafted=result.drafted, accepted=result.accepted, target_tokens=result.target_passes,
                  **extra)  # fmt: skip
        if result.alone is not None:
            alone = result.alone
            table.add(f"vocablab target alone (reduced), {mode}", alone.text.encode(), alone.seconds,
                      (alone.target_calls, 0), own, target_tokens=alone.target_passes)  # fmt: skip


class Route:
    """One draft as both tools use it: its spec, the loaded model (vocablab's, and a pristine copy for
    transformers), and whether it shares the target's tokenizer."""

    def __init__(self, spec: str, draft, same_tokenizer: bool, label: str) -> None:
        self.spec, self.draft, self.hf_draft = spec, draft, copy.deepcopy(draft)
        self.same_tokenizer, self.label = same_tokenizer, label


def transplanted_draft(args) -> str:
    """The draft given the target's tokenizer, made once into ``args.transplanted`` (reused if there)."""
    anchors = ["--k", str(args.transplant_k)] if args.transplant_method in ("omp", "knn") else []
    folder = Path(args.transplanted or Path(tempfile.gettempdir()) / "vocablab-bench" / (
        f"{args.draft}-with-{args.target}-{args.transplant_method}{''.join(anchors[1:])}"))  # fmt: skip
    command = [sys.executable, "-m", "vocablab", "transplant", "--base", args.draft, "--donor", args.target,
               "--out", str(folder), "--method", args.transplant_method, *anchors]  # fmt: skip
    if (folder / "config.json").exists():
        print(f"transplanted draft: {folder} (reused; made by: {' '.join(command[1:])})")
        return str(folder)
    print(f"transplanted draft: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    print(f"  made in {time.perf_counter() - started:.0f} s")
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="gemma3-270m")
    parser.add_argument("--draft", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=48, help="bytes per output (tokens for transformers: bytes / 4)")
    parser.add_argument("--gamma", type=int, default=4)
    parser.add_argument("--transplant-method", default="omp", help="how the draft gets the target's tokenizer")
    parser.add_argument("--transplant-k", type=int, default=8, help="anchors per new token (omp, knn)")
    parser.add_argument("--transplanted", help="folder of the transplanted draft (made if absent)")
    parser.add_argument("--no-transplant", action="store_true", help="the default pair only")
    args = parser.parse_args()
    target = load_causal_lm(args.target, device="cpu")
    routes = [Route(args.draft, load_causal_lm(args.draft, device="cpu"), False, "")]
    if not args.no_transplant:
        folder = transplanted_draft(args)
        routes.append(Route(folder, load_causal_lm(folder, device="cpu"), True, " (transplanted draft)"))
    toks = [AutoTokenizer.from_pretrained(resolve(s).path) for s in (args.target, args.draft)]
    steps = [step_ms(target), *(step_ms(route.draft) for route in routes)]
    table, calls = Table(), Calls(target)
    for prompt in PROMPTS[: args.prompts]:
        own = run_target_alone(table, target, toks[0], calls, prompt, max(args.bytes // 4, 1))
        for route in routes:
            run_assisted(table, route, target, toks, calls, prompt, max(args.bytes // 4, 1), own)
            run_vocablab(table, args, route, target, prompt, own)
    print(f"target {args.target}: one step {steps[0]:.0f} ms")
    for route, step in zip(routes, steps[1:], strict=True):
        cost = step / steps[0]
        needed = alpha_needed(cost)
        print(
            f"draft {route.spec}: one step {step:.0f} ms, c = {cost:.2f}; a speed-up needs a mean alpha of at least "
            f"{float('nan') if needed is None else needed:.2f} (gamma {args.gamma} at alpha 0.5 would give "
            f"{speed_up(0.5, args.gamma, cost):.2f}x)"
        )
    print()
    table.print()


if __name__ == "__main__":
    main()
