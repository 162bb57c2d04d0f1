"""Fast batched OMP against a plain one-target-at-a-time reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vocablab.transplant.omp import batch_omp, reconstruction_error


def naive_omp(y: np.ndarray, atoms: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    """docs/methods.md §3, written plainly in float64: atoms not normalized, exactly k picks,
    least-squares coefficients on all chosen atoms after each pick."""
    residual = y.copy()
    chosen: list[int] = []
    coef = np.zeros(0)
    for _ in range(k):
        scores = np.abs(atoms @ residual)
        scores[chosen] = -np.inf
        chosen.append(int(np.argmax(scores)))
        basis = atoms[chosen].T  # d x t
        coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
        residual = y - basis @ coef
    return chosen, coef


def random_problem(seed: int, n: int, d: int, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    atoms = torch.randn(n, d, generator=gen, dtype=torch.float64)
    atoms *= 10 ** (torch.rand(n, 1, generator=gen, dtype=torch.float64) * 4 - 2)  # norms over 4 decades
    targets = torch.randn(m, d, generator=gen, dtype=torch.float64) * 3
    return targets.float(), atoms.float()


@pytest.mark.parametrize(
    "seed, n, d, m, k",
    [(0, 300, 32, 20, 1), (1, 300, 32, 20, 8), (2, 2000, 64, 40, 16), (3, 5000, 96, 24, 64)],
)
def test_batch_omp_matches_the_naive_reference(seed, n, d, m, k):
    targets, atoms = random_problem(seed, n, d, m)
    indices, coefficients = batch_omp(targets, atoms, k, chunk=7)
    assert indices.shape == coefficients.shape == (m, k)
    for i in range(m):
        ref_idx, ref_coef = naive_omp(targets[i].double().numpy(), atoms.double().numpy(), k)
        assert indices[i].tolist() == ref_idx
        np.testing.assert_allclose(coefficients[i].numpy(), ref_coef, rtol=1e-4, atol=1e-4 * np.abs(ref_coef).max())


def test_exactly_k_distinct_atoms_even_past_the_dimension():
    """k > d: the residual reaches zero, and OMP still returns k distinct atoms that fit y."""
    targets, atoms = random_problem(5, 400, 16, 5)
    targets[0] = atoms[17]
    indices, coefficients = batch_omp(targets, atoms, 24)
    assert all(len(set(row.tolist())) == 24 for row in indices)
    assert (reconstruction_error(targets, atoms, indices, coefficients) < 1e-4).all()


def test_error_falls_as_k_grows():
    targets, atoms = random_problem(6, 1000, 48, 16)
    errors = [reconstruction_error(targets, atoms, *batch_omp(targets, atoms, k)).mean().item() for k in (1, 8, 32, 48)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-4  # k = d spans the space


def test_bad_arguments():
    targets, atoms = random_problem(7, 10, 4, 2)
    with pytest.raises(ValueError):
        batch_omp(targets, atoms, 11)
    with pytest.raises(ValueError):
        batch_omp(targets[:, :3], atoms, 2)
