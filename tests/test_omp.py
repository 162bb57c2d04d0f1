"""Fast batched OMP, with and without its bfloat16 screen, against a plain one-target-at-a-time
reference in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vocablab.presets import ensure_preset
from vocablab.surgery import omp
from vocablab.surgery.checkpoint import find_embeddings, read_tensor
from vocablab.surgery.omp import batch_omp, reconstruction_error


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


def assert_matches_naive(targets: torch.Tensor, atoms: torch.Tensor, k: int, indices, coefficients) -> None:
    for i in range(len(targets)):
        ref_idx, ref_coef = naive_omp(targets[i].double().numpy(), atoms.double().numpy(), k)
        assert indices[i].tolist() == ref_idx
        np.testing.assert_allclose(coefficients[i].numpy(), ref_coef, rtol=1e-4, atol=1e-4 * np.abs(ref_coef).max())


@pytest.mark.parametrize("screen", [False, True])
@pytest.mark.parametrize(
    "seed, n, d, m, k",
    [(0, 300, 32, 20, 1), (1, 300, 32, 20, 8), (2, 2000, 64, 40, 16), (3, 5000, 96, 24, 64)],
)
def test_batch_omp_matches_the_naive_reference(seed, n, d, m, k, screen):
    targets, atoms = random_problem(seed, n, d, m)
    indices, coefficients = batch_omp(targets, atoms, k, chunk=7, screen=screen)
    assert indices.shape == coefficients.shape == (m, k)
    assert_matches_naive(targets, atoms, k, indices, coefficients)


@pytest.fixture(scope="module")
def smollm2_rows() -> torch.Tensor:
    folder = ensure_preset("smollm2-135m")
    return read_tensor(folder, find_embeddings(folder)[0]).float()


@pytest.mark.real  # preset tokenizers or models
def test_screen_picks_equal_the_reference_on_real_embeddings(smollm2_rows, monkeypatch):
    """SmolLM2's own embedding rows (width 576): 12,000 atoms, 16 other rows as targets, k = 24,
    the shape of a transplant. The bfloat16 screen must find the same atoms, in the same order, as
    the float64 reference, and rule out nearly every atom itself: few rows may fall back to a full
    float32 pass."""
    atoms, targets = smollm2_rows[:12_000], smollm2_rows[20_000:20_016]
    full_rows = []
    exact_pick = omp._exact_pick
    monkeypatch.setattr(omp, "_exact_pick", lambda r, *rest: full_rows.append(len(r)) or exact_pick(r, *rest))
    indices, coefficients = batch_omp(targets, atoms, 24, screen=True)
    assert_matches_naive(targets, atoms, 24, indices, coefficients)
    assert sum(full_rows) <= 0.05 * 16 * 24


def test_screen_breaks_ties_as_argmax_does():
    """Two identical atoms: both the screen and the float32 pass pick the lower index."""
    targets, atoms = random_problem(8, 600, 48, 6)
    atoms[37] *= 2 * atoms.norm(dim=1).max() / atoms[37].norm()  # the longest atom, so the clear first pick
    atoms[450] = atoms[37]
    targets[:3] = atoms[37] + 0.01 * targets[:3]
    for screen in (False, True):
        indices, _ = batch_omp(targets, atoms, 4, screen=screen)
        assert (indices[:3, 0] == 37).all() and not (indices[:3] == 450).any()


@pytest.mark.parametrize("screen", [False, True])
def test_exactly_k_distinct_atoms_even_past_the_dimension(screen):
    """k > d: the residual reaches zero, and OMP still returns k distinct atoms that fit y."""
    targets, atoms = random_problem(5, 400, 16, 5)
    targets[0] = atoms[17]
    indices, coefficients = batch_omp(targets, atoms, 24, screen=screen)
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


@pytest.mark.parametrize("screen", [False, True])
def test_small_width_many_targets_over_several_spans(screen):
    """The shape of a big-vocabulary donor of hidden size 32 with k = 8: many targets in blocks (the
    last one partial) and a dictionary far larger than d and than one float32 product's span
    (9,000 atoms: two spans of 4,096 and a partial one, whose last group is padded)."""
    targets, atoms = random_problem(9, 9_000, 32, 300)
    indices, coefficients = batch_omp(targets, atoms, 8, chunk=128, screen=screen)
    assert_matches_naive(targets, atoms, 8, indices, coefficients)


@pytest.mark.parametrize("screen", [False, True])
def test_atoms_tied_in_float32_are_told_apart_in_float64(screen):
    """Pairs of atoms one float32 step apart in one coordinate: their float32 correlations with a
    target tie or come out in either order, their float64 ones do not. The picks must be those of
    the float64 reference, not the lower index among float32 ties."""
    gen = torch.Generator().manual_seed(10)
    targets, atoms = random_problem(10, 5_000, 32, 64)
    pairs = torch.randperm(2_500, generator=gen)[:64] * 2  # even ids, each followed by its twin
    longest = atoms.norm(dim=1).max()
    for row, first in enumerate(pairs.tolist()):
        atoms[first] *= 3 * longest / atoms[first].norm()  # the clear first pick
        twin = atoms[first].clone()
        j = int(twin.abs().argmax())
        twin[j] = torch.nextafter(twin[j], twin[j] * 2)  # one step away from zero: |<y, twin>| grows
        atoms[first + 1] = twin
        targets[row] = atoms[first] + 1e-3 * targets[row]
        targets[row, j] = atoms[first, j] * (1 + 1e-3)  # the same sign as the twin's larger coordinate
    indices, coefficients = batch_omp(targets, atoms, 3, screen=screen)
    assert_matches_naive(targets, atoms, 3, indices, coefficients)


def test_plain_float32_picks_of_a_gpu_match_the_reference_away_from_ties():
    """A GPU's default (no screen: float32 products and argmax), run here on the CPU's tensors."""
    targets, atoms = random_problem(11, 3_000, 32, 40)
    lengths = atoms.double().norm(dim=1)
    indices, coefficients = omp._omp_block(targets, atoms, lengths, 8, None)
    assert_matches_naive(targets, atoms, 8, indices, coefficients)
