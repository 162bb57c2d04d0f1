"""Speed and peak memory of a tokenizer transplant, end to end.

    python benchmarks/bench_transplant.py [--base gemma3-270m] [--donor smollm2-135m] [--k 64]
                                          [--method omp] [--device auto]

Prints the counts, the wall time, new tokens per second, the time of each phase (reading the
tokenizers and matching, the new rows of each matrix, writing) and the peak resident memory of this
process (imports included), then removes the output.

    python benchmarks/bench_transplant.py --base smollm2-135m --donor gemma3-270m --sample 1024

times OMP alone on the first 1,024 new tokens and extrapolates to all of them, for directions too
slow to run whole on this machine (SmolLM2 with Gemma's tokenizer: about 216k new tokens).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from vocablab.surgery import batch_omp, transplant
from vocablab.surgery.engine import omp_problem


def omp_sample(args: argparse.Namespace) -> None:
    donor_embed, shared, new = omp_problem(args.base, args.donor, args.match)  # the transplant's atoms and targets
    donor_embed = donor_embed.float()
    targets = donor_embed[new[: args.sample]]
    start = time.perf_counter()
    batch_omp(targets, donor_embed[shared], args.k)
    seconds = time.perf_counter() - start
    rate = len(targets) / seconds
    print(
        f"{args.base} with {args.donor}'s tokenizer: {len(new):,} new tokens, {len(shared):,} shared, "
        f"width {donor_embed.shape[1]}, k={args.k}"
    )
    print(
        f"OMP on {len(targets):,} of them: {seconds:.1f} s, {rate:.0f} tokens per second; "
        f"all {len(new):,}: about {len(new) / rate / 60:.0f} minutes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--donor", default="smollm2-135m")
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--method", default="omp")
    parser.add_argument("--match", default="bytes")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sample", type=int, help="time OMP alone on this many new tokens and extrapolate")
    args = parser.parse_args()
    if args.sample:
        omp_sample(args)
        return
    work = Path(tempfile.mkdtemp())
    try:
        start = time.perf_counter()
        result = transplant(
            args.base, args.donor, work / "out", k=args.k, method=args.method, match=args.match, device=args.device
        )
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    new = result.counts["approximated"]
    print(f"{args.base} with {args.donor}'s tokenizer, {args.method}, k={args.k}, match={args.match}")
    print(f"counts: {result.counts}")
    print(f"wall time: {wall:.1f} s; new tokens per second: {new / wall:.0f}; peak memory: {peak_mb:.0f} MB")
    print("phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.phase_seconds.items()))
    if result.mean_error:
        print(f"mean relative reconstruction error in the donor space: {result.mean_error}")


if __name__ == "__main__":
    main()
