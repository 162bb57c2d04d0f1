"""Time the generation view's six outputs, as one click of "Generate all six" runs them, twice.

    python benchmarks/bench_generate_view.py [--k 20] [--max-new-bytes 16] [--subvocab mcv]

Loads the two default models once, into the app's model cache, then runs
``generate_side_by_side`` twice on the same prompt: the first run also builds the sub-vocabularies,
the MCV and the healed prompt end's open entries, which later clicks reuse. Prints each run's
total and each output's seconds and text.
"""

from __future__ import annotations

import argparse
import time

from vocablab.options import Decoding
from vocablab.presets import DEFAULT_MODELS
from vocablab.reduce.generate import generate_side_by_side
from vocablab.ui.common import cached_model

PROMPT = "The capital of France is "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--max-new-bytes", type=int, default=16)
    parser.add_argument("--subvocab", default="mcv")
    args = parser.parse_args()
    models = tuple(cached_model(name) for name in DEFAULT_MODELS)  # the app's shared model cache
    decoding = Decoding(k=args.k, max_new_bytes=args.max_new_bytes)
    print(f"{' and '.join(DEFAULT_MODELS)}, {PROMPT!r}, {args.subvocab}, K = {args.k}, {args.max_new_bytes} bytes")
    for click in ("first", "second"):
        started = time.perf_counter()
        results = generate_side_by_side(
            *DEFAULT_MODELS, PROMPT, subvocab=args.subvocab, decoding=decoding, models=models
        )
        print(f"{click} click: {time.perf_counter() - started:.1f} s")
        for title, result in results.items():
            print(f"  {title:14} {result.seconds:6.1f} s  {result.text!r}")


if __name__ == "__main__":
    main()
