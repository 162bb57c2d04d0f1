"""Could a low-precision screen find OMP's picks with a proof? Measured on real embeddings.

    python benchmarks/omp_screen.py [--base gemma3-270m] [--donor smollm2-135m] [--targets 128] [--k 64]

OMP's cost is the correlation |<r, a_j>| of each residual r with every atom a_j. A screen computes
it in a cheaper number format and re-scores only the atoms it cannot rule out. With the rounding
errors measured (r = r~ + f, a_j = a~_j + e_j, where ~ is the rounded value), Cauchy-Schwarz bounds
the screened value's error by B_j = |r| |e_j| + |f| |a~_j|. Atom j can be ruled out only if
|<r, a_j>| + B_j < |<r, a_best>| - B_best, even when the screen itself rounds in its favour; every
other atom must be re-scored exactly. This script runs exact OMP (float64) on the first --targets
new tokens of the pair and prints, at each 8th pick, how many atoms that leaves (median and 90th
percentile over the targets) for two formats this CPU has:
- int8, each row with its own scale (the format of VNNI products, torch._int_mm);
- int8 after a random rotation of the space (inner products are unchanged, and the rotation spreads
  large values over all coordinates, so the scales fit better);
- bfloat16, rounded to nearest (the format of AVX512-BF16 or AMX products).
It also prints the gap between the best and the 16th-best atom, against the best atom's bound.

A second table is the screen as vocablab runs it (vocablab/surgery/omp.py, _Screen: bfloat16,
with the float32 sums and the bfloat16 rounding of the output in the bound, atoms sorted by norm in
groups of 64): on the same targets, the atoms it re-scores exactly at each 8th pick (median, 90th
percentile, largest) and the rows it scores in full instead, and whether its picks are those of
the exact float64 OMP above.
"""

from __future__ import annotations

import argparse

import torch

from vocablab.surgery.engine import omp_problem
from vocablab.surgery.omp import _omp_block, _Screen


def int8(rows: torch.Tensor) -> torch.Tensor:
    scale = (rows.abs().amax(dim=1, keepdim=True) / 127).clamp_min(1e-300)
    return torch.round(rows / scale) * scale


def bfloat16(rows: torch.Tensor) -> torch.Tensor:
    return rows.bfloat16().double()


def rotated_int8(width: int):
    rotation, _ = torch.linalg.qr(
        torch.randn(width, width, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    )
    return lambda rows: int8(rows @ rotation) @ rotation.T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--donor", default="smollm2-135m")
    parser.add_argument("--targets", type=int, default=128)
    parser.add_argument("--k", type=int, default=64)
    args = parser.parse_args()
    embed, shared, new = omp_problem(args.base, args.donor)  # the transplant's atoms and targets
    embed = embed.double()
    atoms, targets = embed[shared], embed[new[: args.targets]]
    formats = {"int8": int8, "rotated int8": rotated_int8(atoms.shape[1]), "bfloat16": bfloat16}
    rounded = {name: rounding(atoms) for name, rounding in formats.items()}
    atom_error = {name: (atoms - value).norm(dim=1) for name, value in rounded.items()}
    atom_norm = {name: value.norm(dim=1) for name, value in rounded.items()}
    print(
        f"{args.base} with {args.donor}'s tokenizer: {len(atoms):,} atoms of width {atoms.shape[1]}, "
        f"the first {len(targets)} of {len(new):,} new tokens, k={args.k}\n"
    )
    print("| pick | best - 16th best | bound of the best, int8 | atoms to re-score: int8 | rotated int8 | bfloat16 |")
    print("|---|---|---|---|---|---|")
    chosen = torch.empty(len(targets), 0, dtype=torch.long)
    residual = targets.clone()
    rows = torch.arange(len(targets))
    for t in range(args.k):
        exact = (residual @ atoms.T).abs_()
        exact[rows[:, None], chosen] = -1.0
        best = exact.argmax(dim=1)
        if t % 8 == 0:
            top = exact.topk(16, dim=1).values
            counts, best_bound = {}, None
            for name, rounding in formats.items():
                r_norm, f_norm = (
                    residual.norm(dim=1, keepdim=True),
                    (residual - rounding(residual)).norm(dim=1, keepdim=True),
                )
                bound = r_norm * atom_error[name] + f_norm * atom_norm[name]
                lower = exact[rows, best] - bound[rows, best]
                alive = (exact + bound >= lower[:, None]).sum(dim=1).double()
                counts[name] = f"{alive.median():.0f} (90%: {alive.quantile(0.9):.0f})"
                best_bound = bound[rows, best] if best_bound is None else best_bound
            gap = (top[:, 0] - top[:, 15]).median()
            print(f"| {t + 1} | {gap:.3f} | {best_bound.median():.3f} | " + " | ".join(counts.values()) + " |")
        chosen = torch.cat([chosen, best[:, None]], dim=1)
        basis = atoms[chosen].transpose(1, 2)  # (targets, width, t + 1)
        coef = torch.linalg.lstsq(basis, targets.unsqueeze(-1)).solution
        residual = targets - (basis @ coef).squeeze(-1)

    atoms32 = atoms.float()  # what a transplant gives OMP
    lengths = atoms32.double().norm(dim=1)
    screen = _Screen(atoms32, lengths, 256)
    picks = torch.cat([_omp_block(block, atoms32, lengths, args.k, screen)[0] for block in targets.float().split(256)])
    same = (picks == chosen).all(dim=1)
    print(
        f"\nThe screen's picks equal the float64 reference's (all {args.k}, in order) "
        f"for {int(same.sum())} of {len(targets)} targets"
    )
    print("\nThe screen as built: atoms re-scored exactly per target\n")
    print("| pick | median | 90th percentile | largest | targets scored in full |")
    print("|---|---|---|---|---|")
    for t in range(0, args.k, 8):
        counts = screen.histogram[t]
        cumulative = counts[:65].cumsum(0)
        median, p90 = (int((cumulative >= q * cumulative[-1]).nonzero()[0]) for q in (0.5, 0.9))
        largest = int(counts[:65].nonzero().max())
        print(f"| {t + 1} | {median} | {p90} | {largest}{'+' if largest == 64 else ''} | {int(counts[65])} |")


if __name__ == "__main__":
    main()
