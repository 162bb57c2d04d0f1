"""Speed and peak memory of a tokenizer transplant, end to end.

    python benchmarks/bench_transplant.py [--base gemma3-270m] [--donor smollm2-135m] [--k 64]
                                          [--method omp] [--device auto]

Prints the counts, the wall time, new tokens per second and the peak resident memory of this
process (imports included), then removes the output.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from vocablab.transplant import transplant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--donor", default="smollm2-135m")
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--method", default="omp")
    parser.add_argument("--match", default="bytes")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    try:
        start = time.perf_counter()
        result = transplant(args.base, args.donor, work / "out", k=args.k, method=args.method, match=args.match,
                            device=args.device)  # fmt: skip
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    new = result.counts["approximated"]
    print(f"{args.base} with {args.donor}'s tokenizer, {args.method}, k={args.k}, match={args.match}")
    print(f"counts: {result.counts}")
    print(f"wall time: {wall:.1f} s; new tokens per second: {new / wall:.0f}; peak memory: {peak_mb:.0f} MB")
    if result.mean_error:
        print(f"mean relative reconstruction error in the donor space: {result.mean_error}")


if __name__ == "__main__":
    main()
