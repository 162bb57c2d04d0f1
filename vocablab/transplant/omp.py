"""Orthogonal matching pursuit over many targets at once (docs/methods.md §3).

For each target y and dictionary A (rows are atoms, NOT normalized) OMP picks exactly k atoms:
repeat k times: take the not-yet-chosen atom with the largest |<r, A_j>|, refit y on all chosen
atoms by least squares, r = y - fit. This module is pure torch, with no I/O.

The cost is the correlation step, done for a block of targets as one (targets x d) @ (d x atoms)
product per step, in float32, on the GPU when the tensors are there. The precomputed-Gram form
(Batch-OMP) would need an atoms x atoms matrix: 8.5 GB for the 46k shared tokens of SmolLM2 and
Gemma 3, so it does not pay here. Coefficients are solved in float64 from the chosen atoms' Gram
matrix, which grows by one row and column a step.
"""

from __future__ import annotations

import torch

from vocablab.progress import bar


def batch_omp(
    targets: torch.Tensor,
    dictionary: torch.Tensor,
    k: int,
    *,
    chunk: int | None = None,
    desc: str = "OMP",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact OMP of every row of ``targets`` (m x d) on the rows of ``dictionary`` (n x d).

    Returns ``indices`` (m x k, int64, in pick order) and ``coefficients`` (m x k, float32) such
    that ``coefficients[i] @ dictionary[indices[i]]`` is the least-squares fit of ``targets[i]``.
    ``chunk`` targets share each correlation product: by default 256 on the CPU, 2048 on a GPU, where
    larger products and fewer kernel launches pay.

    >>> A = torch.eye(3); idx, coef = batch_omp(torch.tensor([[0.0, 2.0, 1.0]]), A, 2)
    >>> idx.tolist(), coef.tolist()
    ([[1, 2]], [[2.0, 1.0]])
    """
    if targets.ndim != 2 or dictionary.ndim != 2 or targets.shape[1] != dictionary.shape[1]:
        raise ValueError(f"shapes do not fit: targets {tuple(targets.shape)}, dictionary {tuple(dictionary.shape)}")
    if not 0 < k <= dictionary.shape[0]:
        raise ValueError(f"k={k} must be between 1 and the number of atoms ({dictionary.shape[0]})")
    atoms = dictionary.float()
    chunk = chunk or (2048 if atoms.is_cuda else 256)
    indices = torch.empty(targets.shape[0], k, dtype=torch.long, device=atoms.device)
    coefficients = torch.empty(targets.shape[0], k, dtype=torch.float32, device=atoms.device)
    with bar(targets.shape[0], desc, unit="token") as done:
        for start in range(0, targets.shape[0], chunk):
            block = targets[start : start + chunk].to(atoms.device, torch.float32)
            indices[start : start + len(block)], coefficients[start : start + len(block)] = _omp_block(block, atoms, k)
            done.update(len(block))
    return indices, coefficients


def _omp_block(y: torch.Tensor, atoms: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    b, d = y.shape
    chosen = torch.empty(b, k, dtype=torch.long, device=y.device)
    chosen_atoms = torch.empty(b, k, d, dtype=torch.float64, device=y.device)
    gram = torch.zeros(b, k, k, dtype=torch.float64, device=y.device)
    rhs = torch.zeros(b, k, dtype=torch.float64, device=y.device)
    y64 = y.double()
    residual = y
    coef = torch.zeros(b, 0, dtype=torch.float64, device=y.device)
    for t in range(k):
        scores = (residual @ atoms.T).abs_()
        scores.scatter_(1, chosen[:, :t], -1.0)  # never pick an atom twice
        pick = scores.argmax(dim=1)
        chosen[:, t] = pick
        new_atom = atoms[pick].double()
        chosen_atoms[:, t] = new_atom
        cross = torch.einsum("btd,bd->bt", chosen_atoms[:, :t], new_atom)
        gram[:, t, :t] = cross
        gram[:, :t, t] = cross
        gram[:, t, t] = (new_atom * new_atom).sum(dim=1)
        rhs[:, t] = (new_atom * y64).sum(dim=1)
        coef = _solve(gram[:, : t + 1, : t + 1], rhs[:, : t + 1], chosen_atoms[:, : t + 1], y64)
        residual = (y64 - torch.einsum("bt,btd->bd", coef, chosen_atoms[:, : t + 1])).float()
    return chosen, coef.float()


def _solve(gram: torch.Tensor, rhs: torch.Tensor, chosen_atoms: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients from the normal equations; rank-deficient rows use lstsq."""
    factor, info = torch.linalg.cholesky_ex(gram)
    coef = torch.cholesky_solve(rhs.unsqueeze(-1), factor).squeeze(-1)
    bad = (info != 0) | ~torch.isfinite(coef).all(dim=1)
    if bad.any():
        # gelsd (SVD, safe for rank-deficient systems) exists only on the CPU: these few rows go there
        basis, target = chosen_atoms[bad].transpose(1, 2).cpu(), y[bad].unsqueeze(-1).cpu()
        coef[bad] = torch.linalg.lstsq(basis, target, driver="gelsd").solution.squeeze(-1).to(coef.device)
    return coef


def combine(coefficients: torch.Tensor, rows: torch.Tensor, indices: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """``out[i] = coefficients[i] @ rows[indices[i]]``, in float32, a block of targets at a time
    (gathering every anchor row at once would take targets x k x d floats: 0.5 GB for Gemma)."""
    out = torch.empty(len(indices), rows.shape[1], dtype=torch.float32, device=rows.device)
    for start in range(0, len(indices), chunk):
        block = slice(start, start + chunk)
        out[block] = torch.einsum("mk,mkd->md", coefficients[block].float(), rows[indices[block]].float())
    return out


def reconstruction_error(
    targets: torch.Tensor, dictionary: torch.Tensor, indices: torch.Tensor, coefficients: torch.Tensor
) -> torch.Tensor:
    """Relative error ||y - fit|| / ||y|| of each target (0 for a zero target)."""
    fit = combine(coefficients, dictionary, indices)
    norm = targets.float().norm(dim=1)
    return (targets.float() - fit).norm(dim=1) / norm.clamp_min(torch.finfo(torch.float32).tiny)
