"""Speed of generation over a sub-vocabulary against plain generation, steps per byte, and how often
two models' nested MCV segmentations of the same text agree.

    python benchmarks/bench_reduce.py [--model smollm2-135m] [--other gemma3-270m] [--bytes 64] [--device cpu]

Greedy decoding on --device (the CPU by default: two threads here), float32, the same prompts for
every run; bytes per second count the generated UTF-8 bytes. The last table times the ensemble of
--model and --other over their MCV and over bytes, K = 300. K-LVR uses the library defaults
(cover beam 64, min_weight 1e-6); exact mode prunes nothing, so its budget is --exact-bytes. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import time

import torch

from vocablab.evaluate import read_documents
from vocablab.presets import ensure_text
from vocablab.reduce.ensemble import shared_space
from vocablab.reduce.generate import generate_ensemble, generate_reduced, prompt_ids
from vocablab.reduce.subvocab import parse_subvocab
from vocablab.sources import load_causal_lm, load_vocabulary

PROMPTS = ["The capital of France is", "Once upon a time, in a small village,", "def add(a, b):\n    return"]


def plain_speed(model, vocab, n_bytes: int) -> tuple[float, float]:
    """Bytes per second and bytes per step of ``model.generate`` (greedy, KV cache)."""
    total_bytes, total_seconds, total_steps = 0, 0.0, 0
    for prompt in PROMPTS:
        ids = torch.tensor([prompt_ids(vocab, prompt)], device=model.device)
        started = time.perf_counter()
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=n_bytes // 3,
            do_sample=False,
            min_new_tokens=n_bytes // 3,
        )
        total_seconds += time.perf_counter() - started
        new = out[0, ids.shape[1] :].tolist()
        total_bytes += len(vocab.text_bytes(new))
        total_steps += len(new)
    return total_bytes / total_seconds, total_bytes / total_steps


def reduced_speed(name, model, sub, k, n_bytes: int) -> tuple[float, float, float]:
    total_bytes, total_seconds, total_steps, passes = 0, 0.0, 0, 0
    for prompt in PROMPTS:
        result = generate_reduced(name, prompt, subvocab=sub, k=k, max_new_bytes=n_bytes, model=model)
        total_bytes += sum(result.piece_bytes)
        total_seconds += result.seconds
        total_steps += result.steps
        passes += result.forward_passes
    return total_bytes / total_seconds, total_bytes / total_steps, passes / total_bytes


def ensemble_speed(names, models, space: str, n_bytes: int) -> tuple[float, float, float]:
    total_bytes, total_seconds, total_steps, passes = 0, 0.0, 0, 0
    for prompt in PROMPTS:
        result = generate_ensemble(names, prompt, space=space, k=300, max_new_bytes=n_bytes, models=models)
        total_bytes += sum(result.piece_bytes)
        total_seconds += result.seconds
        total_steps += result.steps
        passes += result.forward_passes
    return total_bytes / total_seconds, total_bytes / total_steps, passes / total_bytes


def segmentation_agreement(a: str, b: str, documents: list[str]) -> tuple[float, float, float]:
    """Share of documents whose nested MCV segmentations under the two models are identical, share
    of segment boundaries both place, and MCV steps per byte (first model)."""
    va, vb = load_vocabulary(a), load_vocabulary(b)
    shared = shared_space([va, vb], "mcv")
    same_docs, shared_bounds, all_bounds, steps, n_bytes = 0, 0, 0, 0, 0
    for text in documents:
        cuts = []
        for vocab, sub in zip((va, vb), shared.subs, strict=True):
            pieces = [sub.symbols[s].data for t in vocab.encode(text) for s in sub.nested[t]]
            offsets, at = set(), 0
            for p in pieces:
                at += len(p)
                offsets.add(at)
            cuts.append(offsets)
        steps += len(cuts[0])
        n_bytes += len(text.encode())
        same_docs += cuts[0] == cuts[1]
        shared_bounds += len(cuts[0] & cuts[1])
        all_bounds += len(cuts[0] | cuts[1])
    return same_docs / len(documents), shared_bounds / all_bounds, steps / n_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--other", default="gemma3-270m", help="the MCV partner")
    parser.add_argument("--bytes", type=int, default=64, help="bytes generated per prompt")
    parser.add_argument("--exact-bytes", type=int, default=16, help="bytes per prompt in exact mode (0: skip it)")
    parser.add_argument("--docs", type=int, default=100, help="lee_background articles for the agreement")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the models run")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model, vocab = load_causal_lm(args.model, device=args.device), load_vocabulary(args.model)
    plain_speed(model, vocab, 8)  # warm-up: the first call pays for one-time setup (kernels, allocator)
    plain_bps, plain_bpstep = plain_speed(model, vocab, args.bytes)
    where = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.model}, greedy, {len(PROMPTS)} prompts x {args.bytes} bytes, {where}\n")
    print("| sub-vocabulary | K | bytes/s | vs plain | bytes/step | forward passes/byte |")
    print("|---|---|---|---|---|---|")
    print(f"| (plain generate) | - | {plain_bps:.1f} | 1.00x | {plain_bpstep:.2f} | {1 / plain_bpstep:.2f} |")
    for spec in ("bytes", "maxlen:4", f"mcv:{args.other}"):
        sub = parse_subvocab(spec, vocab)
        for k in (1, 10, 300, None) if args.exact_bytes else (1, 10, 300):
            budget = args.bytes if k is not None else args.exact_bytes
            bps, bpstep, passes = reduced_speed(args.model, model, sub, k, budget)
            label = "exact" if k is None else k
            row = f"| {spec} | {label} | {bps:.1f} | {bps / plain_bps:.2f}x | {bpstep:.2f} | {passes:.2f} |"
            print(row, flush=True)
    other = load_causal_lm(args.other, device=args.device)
    print(f"\nensemble {args.model} + {args.other}, K = 300, uniform weights\n")
    print("| space | bytes/s | bytes/step | forward passes/byte (both members) |")
    print("|---|---|---|---|")
    for space in ("mcv", "bytes"):
        bps, bpstep, passes = ensemble_speed([args.model, args.other], [model, other], space, args.bytes)
        print(f"| {space} | {bps:.1f} | {bpstep:.2f} | {passes:.2f} |", flush=True)
    documents = read_documents(ensure_text("lee_background"))[: args.docs]
    same, bounds, steps = segmentation_agreement(args.model, args.other, documents)
    print(
        f"\nnested MCV segmentations of {len(documents)} lee_background articles, {args.model} vs {args.other}: "
        f"identical for {same:.1%} of articles; {bounds:.1%} of boundaries shared; "
        f"{steps:.3f} MCV steps per byte (bytes: 1)"
    )


if __name__ == "__main__":
    main()
