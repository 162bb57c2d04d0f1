"""Bits per byte of two models alone and of their MCV and byte ensembles, on held-out real text.

    python benchmarks/eval_ensemble.py [--models smollm2-135m gemma3-270m] [--docs 5] [--max-bytes 400]
                                       [--device cpu|cuda]

Scores the first --max-bytes bytes (cut at a character) of the last --docs lee_background
articles. Each model alone with its own tokenizer (canonical) and reduced to the shared space; the
ensembles with uniform weights and a sweep of the first model's weight. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import time

import torch

from vocablab.evaluate import read_documents
from vocablab.presets import ensure_text
from vocablab.reduce.score import ensemble_bits_per_byte
from vocablab.sources import load_causal_lm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs=2, default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--docs", type=int, default=5)
    parser.add_argument("--max-bytes", type=int, default=400)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the models run")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    documents = [
        d.encode()[: args.max_bytes].decode("utf-8", errors="ignore")
        for d in read_documents(ensure_text("lee_background"))[-args.docs :]
    ]
    models = [load_causal_lm(m, device=args.device) for m in args.models]
    n_bytes = sum(len(d.encode()) for d in documents)
    print(f"last {len(documents)} lee_background articles, first {args.max_bytes} bytes each ({n_bytes:,} bytes)\n")
    scores, seconds = {}, {}
    for space in ("mcv", "bytes"):
        started = time.perf_counter()
        scores[space] = ensemble_bits_per_byte(args.models, documents, space=space, models=models)
        seconds[space] = time.perf_counter() - started
    mcv = scores["mcv"]
    print("| model | bits per byte |")
    print("|---|---|")
    for name, own in zip(mcv.models, mcv.canonical_bits_per_byte, strict=True):
        print(f"| {name}, own tokenizer | {own:.4f} |")
    for space, score in scores.items():
        for name, reduced in zip(score.models, score.reduced_bits_per_byte, strict=True):
            print(f"| {name}, reduced to {space} | {reduced:.4f} |")
        print(
            f"| ensemble over {space}, uniform weights ({score.steps:,} steps, {seconds[space]:.0f} s) "
            f"| {score.ensemble_bits_per_byte:.4f} |"
        )
    print(f"\nweight of {args.models[0]} -> ensemble bits per byte")
    print("| weight | " + " | ".join(scores) + " |")
    print("|---|" + "---|" * len(scores))
    for i, (w, _) in enumerate(mcv.weight_sweep):
        print(f"| {w:.1f} | " + " | ".join(f"{s.weight_sweep[i][1]:.4f}" for s in scores.values()) + " |")
    print(f"\nsegmentation scored over mcv: {mcv.segmentation}")


if __name__ == "__main__":
    main()
