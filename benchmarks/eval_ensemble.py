"""Bits per byte of two models alone and of their MCV and byte ensembles, on held-out real text,
with the ensemble's weight chosen on other text.

    python benchmarks/eval_ensemble.py [--models smollm2-135m gemma3-270m] [--docs 5] [--tune-docs 5]
                                       [--max-bytes 400] [--device cpu|cuda]

Reports on the first --max-bytes bytes (cut at a character) of the last --docs lee_background
articles; the weight of the first model is chosen (0.0, 0.1, ..., 1.0) on the --tune-docs articles
before them, and only then scored on the report articles. Each figure, per space (MCV, bytes):
- a model with its own tokenizer (canonical tokenization, exact);
- a model reduced, alone, with the mass pruning drops charged to the text: an upper bound on its
  reduced bits per byte;
- a model alone scored exactly as the ensemble is (its distribution restricted to the shared
  symbols, nothing charged for pruning): the figure to compare the ensemble with, neither a bound;
- the ensemble with uniform weights and with the tuned weight, scored the same way.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import time

import torch

from vocablab.evaluate import read_documents
from vocablab.presets import ensure_text
from vocablab.reduce.score import ensemble_bits_per_byte
from vocablab.sources import load_causal_lm


def cut(text: str, max_bytes: int) -> str:
    return text.encode()[:max_bytes].decode("utf-8", errors="ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs=2, default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--docs", type=int, default=5, help="report on the last N articles")
    parser.add_argument("--tune-docs", type=int, default=5, help="choose the weight on the N articles before them")
    parser.add_argument("--max-bytes", type=int, default=400)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the models run")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    articles = read_documents(ensure_text("lee_background"))
    report = [cut(d, args.max_bytes) for d in articles[-args.docs :]]
    tune = [cut(d, args.max_bytes) for d in articles[-args.docs - args.tune_docs : -args.docs]]
    models = [load_causal_lm(m, device=args.device) for m in args.models]
    first = args.models[0]
    n_tune, n_report = (sum(len(d.encode()) for d in docs) for docs in (tune, report))
    print(
        f"weight chosen on {len(tune)} lee_background articles ({n_tune:,} bytes), reported on the last "
        f"{len(report)} ({n_report:,} bytes), first {args.max_bytes} bytes of each\n"
    )
    spaces = ("mcv", "bytes")
    chosen, scores, seconds = {}, {}, {}
    for space in spaces:
        tuned = ensemble_bits_per_byte(args.models, tune, space=space, models=models)
        chosen[space] = min(tuned.weight_sweep, key=lambda pair: pair[1])[0]
        started = time.perf_counter()
        scores[space] = ensemble_bits_per_byte(
            args.models, report, space=space, weights=[chosen[space], 1 - chosen[space]], models=models
        )
        seconds[space] = time.perf_counter() - started

    def row(label: str, values: list[float]) -> str:
        return f"| {label} | " + " | ".join(f"{v:.4f}" for v in values) + " |"

    print("| bits per byte on the report articles | " + " | ".join(spaces) + " |")
    print("|---|" + "---|" * len(spaces))
    for i, name in enumerate(scores["mcv"].models):
        print(row(f"{name}, own tokenizer (exact)", [scores[s].canonical_bits_per_byte[i] for s in spaces]))
        charged = [scores[s].reduced_bits_per_byte[i] for s in spaces]
        print(row(f"{name}, reduced, pruning charged (upper bound)", charged))
        print(row(f"{name} alone, scored as the ensemble", [scores[s].alone_bits_per_byte[i] for s in spaces]))
    print(row("ensemble, uniform weights", [dict(scores[s].weight_sweep)[0.5] for s in spaces]))
    print(
        "| ensemble, weight of "
        + first
        + " chosen on the tuning articles | "
        + " | ".join(f"{scores[s].ensemble_bits_per_byte:.4f} (w = {chosen[s]:.1f})" for s in spaces)
        + " |"
    )
    print("\nscoring time on the report articles: " + ", ".join(f"{s} {seconds[s]:.0f} s" for s in spaces))
    print(f"weight of {first} -> ensemble bits per byte on the report articles (for reference, not for choosing)")
    print("| weight | " + " | ".join(spaces) + " |")
    print("|---|" + "---|" * len(spaces))
    for i, (w, _) in enumerate(scores["mcv"].weight_sweep):
        print(f"| {w:.1f} | " + " | ".join(f"{scores[s].weight_sweep[i][1]:.4f}" for s in spaces) + " |")
    print(f"\nsegmentation scored over mcv: {scores['mcv'].segmentation}")


if __name__ == "__main__":
    main()
