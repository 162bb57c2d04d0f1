"""OMP on the GPU against OMP on the CPU, on the same real rows: do the picks agree, and how fast is each.

    python benchmarks/omp_device.py [--base smollm2-135m] [--donor gemma3-270m] [--k 64] [--limit 2048]

Takes the transplant's own inputs (donor rows of the shared tokens as atoms, donor rows of the new
tokens as targets, byte matching) and runs vocablab's batch_omp on the first --limit targets on
the CPU and on CUDA. Both compute in float32 (no TF32) with float64 coefficients, so they differ
only in the order of floating-point sums: a pick can change only where two atoms' correlations tie
to rounding. Prints the share of targets whose k picks are identical (in order, and as a set), the
median relative difference of their coefficients, the median reconstruction error of each, and
the time of each. Needs a CUDA GPU.
"""

from __future__ import annotations

import argparse
import time

import torch

from vocablab.surgery.engine import omp_problem
from vocablab.surgery.omp import batch_omp, reconstruction_error


def timed_omp(targets, atoms, k, device):
    atoms = atoms.to(device)
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    idx, coef = batch_omp(targets.to(device), atoms, k, desc=f"OMP ({device})")
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    error = reconstruction_error(targets.to(device), atoms, idx, coef)
    return idx.cpu(), coef.cpu(), error.cpu(), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="smollm2-135m")
    parser.add_argument("--donor", default="gemma3-270m")
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--limit", type=int, default=2048, help="new tokens to approximate on both devices")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU: this benchmark compares the CPU with a GPU")
    donor_rows, shared, new = omp_problem(args.base, args.donor)  # the transplant's atoms and targets
    donor_rows = donor_rows.float()
    atoms, targets = donor_rows[shared], donor_rows[new[: args.limit]]

    results = {device: timed_omp(targets, atoms, args.k, device) for device in ("cpu", "cuda")}
    (idx_cpu, coef_cpu, err_cpu, s_cpu), (idx_gpu, coef_gpu, err_gpu, s_gpu) = results["cpu"], results["cuda"]
    same_order = (idx_cpu == idx_gpu).all(dim=1)
    same_set = (idx_cpu.sort(dim=1).values == idx_gpu.sort(dim=1).values).all(dim=1)
    coef_diff = (coef_cpu - coef_gpu)[same_order].norm(dim=1) / coef_cpu[same_order].norm(dim=1)
    flops = 2 * len(targets) * len(atoms) * atoms.shape[1] * args.k
    print(
        f"{args.base} with {args.donor}'s tokenizer: first {len(targets):,} of {len(new):,} new tokens, "
        f"{len(shared):,} atoms of width {atoms.shape[1]}, k={args.k}; GPU: {torch.cuda.get_device_name(0)}\n"
    )
    print("| | CPU | CUDA |")
    print("|---|---|---|")
    print(f"| time (s) | {s_cpu:.2f} | {s_gpu:.2f} |")
    print(f"| correlation rate (GFLOP/s) | {flops / s_cpu / 1e9:.0f} | {flops / s_gpu / 1e9:.0f} |")
    print(f"| median reconstruction error | {err_cpu.median().item():.6f} | {err_gpu.median().item():.6f} |")
    print(f"\nsame {args.k} picks in the same order: {same_order.float().mean().item():.2%} of targets")
    print(f"same set of {args.k} picks: {same_set.float().mean().item():.2%} of targets")
    if same_order.any():
        print(f"median relative coefficient difference (same picks): {coef_diff.median().item():.2e}")
    print(f"CPU threads: {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
