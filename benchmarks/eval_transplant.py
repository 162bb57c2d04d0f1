"""Bits per byte of transplanted models against the base model, on real text; and a held-out test.

    python benchmarks/eval_transplant.py [--base gemma3-270m] [--donor smollm2-135m] [--docs 40] [--k 64]

Transplants the donor's tokenizer onto the base with OMP (string and byte matching) and every
baseline, scores each model and the base on the last --docs articles of lee_background (bits per
byte: comparable across tokenizers), then hides 5% of the shared tokens and reports the mean
cosine similarity of each method's rebuilt rows to the true ones. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from vocablab.evaluate import bits_per_byte, read_documents
from vocablab.presets import ensure_text
from vocablab.surgery import transplant
from vocablab.surgery.heldout import heldout_cosine

RUNS = [
    ("omp", "string"),
    ("omp", "bytes"),
    ("subword", "bytes"),
    ("knn", "bytes"),
    ("mean", "bytes"),
    ("zero", "bytes"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--donor", default="smollm2-135m")
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--k", type=int, default=64)
    args = parser.parse_args()
    documents = read_documents(ensure_text("lee_background"))[-args.docs :]
    n_bytes = sum(len(d.encode()) for d in documents)
    print(
        f"{args.base} with {args.donor}'s tokenizer; text: last {len(documents)} lee_background articles "
        f"({n_bytes:,} bytes); k={args.k}\n"
    )
    print("| model | matching | new tokens | transplant s | bits per byte |")
    print("|---|---|---|---|---|")
    for name in (args.base, args.donor):
        print(f"| {name} (own tokenizer) | - | - | - | {bits_per_byte(name, documents).bits_per_byte:.4f} |")
    with tempfile.TemporaryDirectory() as work:
        for method, match in RUNS:
            out = Path(work) / f"{method}-{match}"
            start = time.perf_counter()
            result = transplant(args.base, args.donor, out, k=args.k, method=method, match=match)
            seconds = time.perf_counter() - start
            score = bits_per_byte(str(out), documents).bits_per_byte
            new = result.counts["approximated"]
            print(f"| {args.base} + {method} | {match} | {new:,} | {seconds:.1f} | {score:.4f} |")
    print("\nHeld-out: 5% of the shared tokens rebuilt from the others (mean cosine to the true base row)\n")
    print("| method | cosine |")
    print("|---|---|")
    for method, value in heldout_cosine(args.base, args.donor, k=args.k).items():
        print(f"| {method} | {value:.4f} |")


if __name__ == "__main__":
    main()
