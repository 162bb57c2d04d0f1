"""Orthogonal matching pursuit over many targets at once (docs/methods.md §3).

For each target y and dictionary A (rows are atoms, NOT normalized) OMP picks exactly k atoms:
repeat k times: take the not-yet-chosen atom with the largest |<r, A_j>|, refit y on all chosen
atoms by least squares, r = y - fit. This module is pure torch, with no I/O.

The cost is the correlation step, done for a block of targets as (targets x d) @ (d x atoms)
products at each step, on the GPU when the tensors are there. The products run in a fast format and
every pick is made exact by an error bound and a float64 re-score of the few atoms it cannot rule
out (``_Screen``): bfloat16 where bfloat16 products run at least 1.5x as fast as float32 ones (CPUs
with AVX512-BF16 or AMX), float32 elsewhere. On the CPU the float32 products run 4,096 atoms at a
time and each block of scores is reduced to group maxima while it is in the cache, so a small width
(a donor of hidden size 32, 110k targets) costs little more than its products. The precomputed-Gram
form (Batch-OMP) would need an atoms x atoms matrix: 8.5 GB for the 46k shared tokens of SmolLM2
and Gemma 3, so it does not pay here. The chosen atoms are orthonormalized in float64 as they come,
so a step updates the residual by one projection, and the coefficients are solved once, at the end.
"""

from __future__ import annotations

import time
from functools import lru_cache

import torch

from vocablab.progress import bar, check_stop

# the screen's bounds are rounded up, and its lower bounds down, by this factor: it covers the float32
# and float64 arithmetic of the bounds themselves
MARGIN = 1 + 2.0**-20
# an atom whose distance from the span of those already chosen is below this share of its length
# counts as lying in it (numpy's lstsq cuts singular values at about 1e-13 of the largest)
SPAN_TOLERANCE = 1e-12


def batch_omp(
    targets: torch.Tensor,
    dictionary: torch.Tensor,
    k: int,
    *,
    chunk: int | None = None,
    desc: str = "OMP",
    screen: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact OMP of every row of ``targets`` (m x d) on the rows of ``dictionary`` (n x d).

    Returns ``indices`` (m x k, int64, in pick order) and ``coefficients`` (m x k, float32) such
    that ``coefficients[i] @ dictionary[indices[i]]`` is the least-squares fit of ``targets[i]``.
    ``chunk`` targets share each correlation product: by default 256 on the CPU, 2048 on a GPU, where
    larger products and fewer kernel launches pay. ``screen``: screen with bfloat16 products (True),
    with float32 products (False), or by default (None) bfloat16 where it pays (``screen_pays``),
    float32 elsewhere on the CPU. A screen's picks are exact: the atoms with the largest float64
    |<r, A_j>|, the lowest index on a tie. By default a GPU picks from plain float32 products instead
    (the screens have not been measured on one), which agrees except where atoms tie to float32
    rounding.

    >>> A = torch.eye(3); idx, coef = batch_omp(torch.tensor([[0.0, 2.0, 1.0]]), A, 2)
    >>> idx.tolist(), coef.tolist()
    ([[1, 2]], [[2.0, 1.0]])
    """
    if targets.ndim != 2 or dictionary.ndim != 2 or targets.shape[1] != dictionary.shape[1]:
        raise ValueError(f"shapes do not fit: targets {tuple(targets.shape)}, dictionary {tuple(dictionary.shape)}")
    if not 0 < k <= dictionary.shape[0]:
        raise ValueError(f"k={k} must be between 1 and the number of atoms ({dictionary.shape[0]})")
    atoms = dictionary.float()
    plain = screen is None and atoms.is_cuda
    if screen is None:
        screen = screen_pays(atoms)
    chunk = chunk or (2048 if atoms.is_cuda else 256)
    lengths = torch.cat([part.double().norm(dim=1) for part in atoms.split(8192)])
    screener = None if plain else _Screen(atoms, lengths, chunk, torch.bfloat16 if screen else torch.float32)
    indices = torch.empty(targets.shape[0], k, dtype=torch.long, device=atoms.device)
    coefficients = torch.empty(targets.shape[0], k, dtype=torch.float32, device=atoms.device)
    with bar(targets.shape[0], desc, unit="token") as done:
        for start in range(0, targets.shape[0], chunk):
            check_stop()
            block = targets[start : start + chunk].to(atoms.device, torch.float32)
            indices[start : start + len(block)], coefficients[start : start + len(block)] = _omp_block(
                block, atoms, lengths, k, screener
            )
            done.update(len(block))
    return indices, coefficients


def _omp_block(
    y: torch.Tensor, atoms: torch.Tensor, lengths: torch.Tensor, k: int, screen: _Screen | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """OMP of one block of targets. The chosen atoms are orthonormalized as they come (classical
    Gram-Schmidt in float64: A_S = Q R), so each pick updates the residual by one projection,
    r -= q (q . r), and the coefficients are solved once at the end from R. ``lengths``: the atoms'
    norms."""
    b, d = y.shape
    chosen = torch.empty(b, k, dtype=torch.long, device=y.device)
    basis = torch.empty(b, k, d, dtype=torch.float64, device=y.device)  # Q, one row per pick
    upper = torch.zeros(b, k, k, dtype=torch.float64, device=y.device)  # R
    residual = y.double()
    for t in range(k):
        pick = screen.pick(residual, chosen[:, :t]) if screen else _float32_pick(residual, atoms, chosen[:, :t])
        chosen[:, t] = pick
        direction = atoms[pick].double()
        if t:  # (1 x d) @ (d x t) products run faster here than (t x d) @ d
            projection = torch.bmm(direction[:, None], basis[:, :t].transpose(1, 2))
            upper[:, :t, t] = projection[:, 0]
            direction -= torch.bmm(projection, basis[:, :t])[:, 0]
        upper[:, t, t] = norm = direction.norm(dim=1)
        # an atom (numerically) in the span of those chosen, once the residual is ~0, adds no direction
        fresh = norm > SPAN_TOLERANCE * lengths[pick]
        basis[:, t] = torch.where(fresh[:, None], direction / norm.clamp_min(1e-300)[:, None], 0.0)
        residual -= basis[:, t] * (basis[:, t] * residual).sum(dim=1, keepdim=True)
    return chosen, _coefficients(upper, basis, chosen, atoms, lengths, y)


def _float32_pick(residual: torch.Tensor, atoms: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """The not-yet-chosen atom with the largest |<r, a_j>| in float32 products (a GPU's default)."""
    scores = (residual.float() @ atoms.T).abs_()
    scores.scatter_(1, chosen, -1.0)  # never pick an atom twice
    return scores.argmax(dim=1)


def _exact_pick(residual: torch.Tensor, atoms: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """The not-yet-chosen atom with the largest |<r, a_j>|, every correlation in float64: for the
    few rows the screen cannot decide."""
    r64 = residual.double()
    scores = torch.cat([r64 @ part.double().T for part in atoms.split(8192)], dim=1).abs_()
    scores.scatter_(1, chosen, -1.0)  # never pick an atom twice
    return scores.argmax(dim=1)


class _Screen:
    """OMP's pick from correlations in a fast number format, made exact by an error bound and a re-score.

    The correlations of the residual r with all atoms are computed from copies r~ and a~_j in the
    screen's format: bfloat16 (exact products summed in float32, rounded to bfloat16) or float32.
    The computed value s_j is within E_j + u |s_j| of the true <r, a_j>, where
    E_j = |r~| (|a_j - a~_j| + g |a~_j|) + |r - r~| |a_j| (Cauchy-Schwarz; g bounds the float32 sum's
    error) and u is the rounding of the output (2^-8 / (1 - 2^-8) for bfloat16, none for float32).
    The atom with the largest |s_j| is re-scored exactly; the pick scores at least that much, L. An
    atom with |s_j| (1 + u) + E_j < L cannot be the pick. The screen tests groups of atoms first
    (atoms sorted by norm, so a group's largest E_j is close to each of its atoms'), then the atoms of
    the groups it keeps, and re-scores every atom it keeps in float64 from the float32 vectors (a
    handful a row: docs/methods.md §3). The pick is the not-yet-chosen atom with the largest exact
    |<r, a_j>|, the lowest index among ties. A row where the bound rules out too little (a residual
    near zero) is scored in full in float64.

    The products run ``span`` atoms at a time, and each block of scores is reduced to its groups'
    maxima while it is still in the cache: at a small width (d = 32) a product costs about as much
    as one pass over its output, and argmax over a full row cost more than the product itself.
    """

    group = 64  # atoms per group
    max_groups = 32  # a row keeping more groups than this is scored in full

    def __init__(
        self,
        atoms: torch.Tensor,
        norm: torch.Tensor,
        block: int,
        dtype: torch.dtype = torch.bfloat16,
        span: int | None = None,
    ) -> None:
        """``norm``: the atoms' norms in float64; ``block``: the most targets a pick is given;
        ``dtype``: the products' format; ``span``: atoms per product (default: 4,096 for float32 on
        the CPU, all of them otherwise)."""
        n, d = atoms.shape
        self.atoms, self.dtype = atoms, dtype
        self.order = norm.argsort(descending=True)
        self.position = torch.empty_like(self.order)
        self.position[self.order] = torch.arange(n, device=atoms.device)
        self.size = size = n + (-n % self.group)  # zero atoms pad the last group; they are never kept
        whole = dtype == torch.bfloat16 or atoms.is_cuda  # measured that way; a GPU has no cache to keep
        self.span = min(size, span or (size if whole else 4096))
        self.low = torch.zeros(size, d, dtype=dtype, device=atoms.device)
        self.error = torch.zeros(size, dtype=torch.float64, device=atoms.device)
        sum_error, self.u = _rounding(dtype, d)
        for start in range(0, n, 8192):
            rows = atoms[self.order[start : start + 8192]].double()
            low = self.low[start : start + len(rows)]
            low.copy_(rows)
            rounded = low.double()
            self.error[start : start + len(rows)] = (rows - rounded).norm(dim=1) + sum_error * rounded.norm(dim=1)
        self.error = (self.error * MARGIN).float()
        self.norm = (torch.cat([norm[self.order], norm.new_zeros(size - n)]) * MARGIN).float()
        self.group_error = self.error.view(-1, self.group).amax(dim=1)
        self.group_norm = self.norm.view(-1, self.group).amax(dim=1)
        self.out = torch.empty(block * size, dtype=dtype, device=atoms.device)
        # |s| as bits: clearing the sign bit is abs, and non-negative floats order as their integer
        # bit patterns do; integer max runs several times faster than bfloat16 max on the CPU
        self.bits, self.magnitude = (torch.int16, 0x7FFF) if dtype == torch.bfloat16 else (torch.int32, 0x7FFFFFFF)
        # rows by pick and by atoms re-scored: 0-63, 64 for 64 or more, 65 for a row scored in full
        self.histogram = torch.zeros(0, 66, dtype=torch.long, device=atoms.device)

    def _flat(self, row: torch.Tensor, position: torch.Tensor, b: int) -> torch.Tensor:
        """Where the score of (row, sorted position) lies in ``out``: each span's b x width block is
        stored whole, one after the other."""
        start = position - position % self.span
        return b * start + row * (self.size - start).clamp_max(self.span) + position - start

    def _group_maxima(self, low: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """Score every atom into ``out`` as |s| (chosen atoms as 0), and return each group's largest."""
        b, size, group = len(low), self.size, self.group
        out = self.out[: b * size]
        top = torch.empty(b, size // group, dtype=self.bits, device=low.device)
        rows = torch.arange(b, device=low.device)[:, None]
        taken = self._flat(rows, self.position[chosen], b).view(-1)  # a chosen atom is never kept
        for start in range(0, size, self.span):
            width = min(self.span, size - start)
            block = out[b * start : b * (start + width)]
            torch.mm(low, self.low[start : start + width].T, out=block.view(b, width))
            bits = block.view(self.bits).bitwise_and_(self.magnitude)
            if len(taken):  # its true score is ~0 anyway; scatter_ is slow in bfloat16
                inside = taken[(taken >= b * start) & (taken < b * (start + width))]
                bits.index_fill_(0, inside - b * start, 0)
            torch.amax(bits.view(b, -1, group), dim=2, out=top[:, start // group : (start + width) // group])
        return top.view(self.dtype).float()

    def pick(self, residual: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """``residual``: float64, one row per target; ``chosen``: the atoms picked so far."""
        b, n, size = len(residual), len(self.atoms), self.group
        u = self.u * MARGIN
        low = residual.to(self.dtype)
        low64 = low.double()
        low_norm = (low64.norm(dim=1, keepdim=True) * MARGIN).float()
        rest_norm = ((residual - low64).norm(dim=1, keepdim=True) * MARGIN).float()
        rows = torch.arange(b, device=residual.device)
        group_top = self._group_maxima(low, chosen)
        magnitudes = self.out[: b * self.size]  # |s| after _group_maxima

        best_group = group_top.argmax(dim=1)
        members = best_group[:, None] * size + torch.arange(size, device=residual.device)
        best = best_group * size + magnitudes[self._flat(rows[:, None], members, b)].float().argmax(dim=1)
        lower = (residual * self.atoms[self.order[best.clamp_max(n - 1)]].double()).sum(dim=1).abs_()
        lower = (lower / MARGIN).float()[:, None]

        kept = group_top * (1 + u) + low_norm * self.group_error + rest_norm * self.group_norm >= lower
        # a residual near zero (bfloat16 products would flush), or a bound that rules out too little
        full = (low_norm[:, 0] < 1e-20) | (group_top.amax(dim=1) == 0) | (kept.sum(dim=1) > self.max_groups)
        kept[full] = False
        row, group = kept.nonzero(as_tuple=True)
        cols = group[:, None] * size + torch.arange(size, device=residual.device)
        values = magnitudes[self._flat(row[:, None], cols, b)].float()
        bound = values * (1 + u) + low_norm[row] * self.error[cols] + rest_norm[row] * self.norm[cols]
        hit, offset = (bound >= lower[row]).nonzero(as_tuple=True)
        row, cols = row[hit], self.order[cols[hit, offset].clamp_max(n - 1)]
        fresh = (cols[:, None] != chosen[row]).all(dim=1) & (group[hit] * size + offset < n)
        row, cols = row[fresh], cols[fresh]
        exact = (residual[row] * self.atoms[cols].double()).sum(dim=1).abs_()
        top = exact.new_full((b,), -1.0).scatter_reduce_(0, row, exact, "amax")
        first = exact == top[row]  # ties go to the lowest index, as argmax does
        pick = cols.new_full((b,), n).scatter_reduce_(0, row[first], cols[first], "amin")
        if full.any():
            pick[full] = _exact_pick(residual[full], self.atoms, chosen[full])
        per_row = torch.bincount(row, minlength=b).clamp_max_(64).masked_fill_(full, 65)
        if len(self.histogram) <= chosen.shape[1]:
            self.histogram = torch.cat([self.histogram, self.histogram.new_zeros(1, 66)])
        self.histogram[chosen.shape[1]] += torch.bincount(per_row, minlength=66)
        return pick


def screen_pays(dictionary: torch.Tensor) -> bool:
    """Whether ``batch_omp`` picks through the bfloat16 screen by default for this dictionary: on a
    CPU whose bfloat16 products run at least 1.5x as fast as float32 ones (AVX512-BF16 or AMX), for
    4,096 atoms or more. Not on a GPU, where the screen has not been measured yet; small
    dictionaries are cheap either way."""
    return not dictionary.is_cuda and len(dictionary) >= 4096 and _bfloat16_pays(dictionary.shape[1])


@lru_cache
def _bfloat16_pays(width: int) -> bool:
    """Times (256 x width) @ (width x 8192) products, OMP's shape, five of each type interleaved, once
    per process and width, and compares the fastest of each: other work on the machine slows a
    product, never speeds one up. Apart from its products, an OMP step costs about as much with the
    screen as without it, so the screen pays as soon as bfloat16 products are faster; 1.5x leaves
    room for a noisy probe. (The earlier probe, 2x on three tries each, once misjudged this 2-core
    machine, where the ratio is 2.5-4x, and the transplant ran its float32 products: 130 s instead
    of 44.) A CPU without bfloat16 instructions runs them at half the float32 rate or less."""
    left, right = torch.randn(256, width), torch.randn(8192, width)
    pairs = {dtype: (left.to(dtype), right.to(dtype)) for dtype in (torch.float32, torch.bfloat16)}
    seconds = {dtype: float("inf") for dtype in pairs}
    for _ in range(5):
        for dtype, (a, b) in pairs.items():
            started = time.perf_counter()
            a @ b.T
            seconds[dtype] = min(seconds[dtype], time.perf_counter() - started)
    return seconds[torch.float32] > 1.5 * seconds[torch.bfloat16]


def _rounding(dtype: torch.dtype, width: int) -> tuple[float, float]:
    """(g, u) of the screen's bound for products in ``dtype`` of vectors of ``width`` numbers: g bounds
    the error of the float32 sums relative to |r~| |a~_j| (and, for float32 inputs, of the rounded
    products), u the rounding of the output. Where torch may round float32 inputs of a product to a
    shorter format (``torch.set_float32_matmul_precision`` other than "highest": TF32 or bfloat16),
    the inputs' rounding, as in bfloat16, is part of g."""
    if dtype == torch.bfloat16:  # products of bfloat16 numbers are exact in float32
        return width * 2.0**-24 / (1 - width * 2.0**-24), 2.0**-8 / (1 - 2.0**-8)
    terms = (width + 1) * 2.0**-24
    inputs = 0.0 if torch.get_float32_matmul_precision() == "highest" else 2 * 2.0**-8 + 2.0**-16
    return terms / (1 - terms) + inputs, 0.0


def _coefficients(
    upper: torch.Tensor,
    basis: torch.Tensor,
    chosen: torch.Tensor,
    atoms: torch.Tensor,
    lengths: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    """Least-squares coefficients of y on the chosen atoms, R c = Q^T y; rows whose atoms are
    (numerically) dependent are solved by lstsq instead."""
    y64 = y.double()
    rhs = torch.einsum("bkd,bd->bk", basis, y64).unsqueeze(-1)
    coef = torch.linalg.solve_triangular(upper, rhs, upper=True).squeeze(-1)
    dependent = (upper.diagonal(dim1=1, dim2=2) <= SPAN_TOLERANCE * lengths[chosen]).any(dim=1)
    bad = dependent | ~torch.isfinite(coef).all(dim=1)
    if bad.any():
        # gelsd (SVD, safe for rank-deficient systems) exists only on the CPU: these few rows go there
        chosen_atoms = atoms[chosen[bad]].double().transpose(1, 2).cpu()
        solution = torch.linalg.lstsq(chosen_atoms, y64[bad].unsqueeze(-1).cpu(), driver="gelsd").solution
        coef[bad] = solution.squeeze(-1).to(coef.device)
    return coef.float()


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
