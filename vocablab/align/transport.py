"""Entropic optimal transport between the top-k of two next-token distributions (POT's Sinkhorn).

Costs between a token of A and a token of B, all in [0, 1] so one regularization suits every cost:
- "edit": byte Levenshtein distance divided by the longer token's length;
- "exact": 0 when the bytes are equal, else 1;
- "embedding": half the cosine distance between the two tokens' vectors in one model's embedding
  space, the other vocabulary mapped into it by an OMP transplant (see ``mapping.py``).
Special tokens have no bytes: two specials of the same name cost 0, anything else 1.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import ot
import torch

MIN_MASS = 1e-15


def byte_edit_distance(a: bytes, b: bytes) -> int:
    """Levenshtein distance over bytes (insert, delete, substitute; each costs 1)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _special_or(a: bytes | None, b: bytes | None, name_a: str, name_b: str) -> float | None:
    if a is None or b is None:
        return 0.0 if a is None and b is None and name_a == name_b else 1.0
    return None


def token_costs(
    pieces_a: list[bytes | None],
    pieces_b: list[bytes | None],
    kind: Literal["edit", "exact"],
    names_a: list[str] | None = None,
    names_b: list[str] | None = None,
) -> np.ndarray:
    """(len(a), len(b)) matrix of byte costs between two token lists (None = a special token)."""
    names_a = names_a or [""] * len(pieces_a)
    names_b = names_b or [""] * len(pieces_b)
    cost = np.empty((len(pieces_a), len(pieces_b)))
    for i, (a, name_a) in enumerate(zip(pieces_a, names_a, strict=True)):
        for j, (b, name_b) in enumerate(zip(pieces_b, names_b, strict=True)):
            special = _special_or(a, b, name_a, name_b)
            if special is not None:
                cost[i, j] = special
            elif kind == "exact":
                cost[i, j] = float(a != b)
            else:
                cost[i, j] = byte_edit_distance(a, b) / max(len(a), len(b), 1)
    return cost


def embedding_costs(vectors_a: torch.Tensor, vectors_b: torch.Tensor) -> np.ndarray:
    """Half the cosine distance between every row of ``vectors_a`` and every row of ``vectors_b``."""
    a = torch.nn.functional.normalize(vectors_a.double(), dim=-1)
    b = torch.nn.functional.normalize(vectors_b.double(), dim=-1)
    return ((1.0 - a @ b.T) / 2).clamp(0.0, 1.0).numpy()


def _histogram(mass: np.ndarray) -> np.ndarray:
    """``mass`` summing to 1; a token whose probability underflowed to 0 gets a negligible mass, which
    would otherwise stall the solver."""
    mass = np.maximum(np.asarray(mass, dtype=np.float64) / np.sum(mass), MIN_MASS)
    return mass / mass.sum()


def sinkhorn_plan(a: np.ndarray, b: np.ndarray, cost: np.ndarray, reg: float) -> np.ndarray:
    """The entropic OT plan between histograms ``a`` and ``b`` (each renormalized to sum 1).

    The stabilized solver (scalings absorbed into log potentials) stays accurate for small ``reg`` at
    the speed of plain Sinkhorn; as ``reg`` shrinks the plan approaches an exact (earth mover's) optimal plan.
    """
    if reg <= 0:
        raise ValueError("the Sinkhorn regularization must be positive")
    a, b = _histogram(a), _histogram(b)
    cost = np.asarray(cost, dtype=np.float64)
    for method in ("sinkhorn_stabilized", "sinkhorn_log"):  # the log-domain one is slower but never overflows
        with warnings.catch_warnings():  # a plan that failed is said below, in one message
            warnings.simplefilter("ignore")
            plan = ot.sinkhorn(a, b, cost, reg, method=method, numItermax=20_000, stopThr=1e-9)
        if not np.isfinite(plan).all():
            continue  # an overflow: the log-domain solver's case
        if _has_marginals(plan, a, b):
            return plan
        break  # finite but too slow to converge: the log-domain solver, ten times slower, would be no faster
    raise ValueError(f"the Sinkhorn solver did not converge at regularization {reg:g}; use a larger one")


def _has_marginals(plan: np.ndarray, a: np.ndarray, b: np.ndarray, tolerance: float = 1e-6) -> bool:
    return bool(np.abs(plan.sum(axis=1) - a).max() <= tolerance and np.abs(plan.sum(axis=0) - b).max() <= tolerance)


@dataclass
class TransportPlan:
    """The plan shown at one position and the exact optimal plan beside it.

    ``solver`` is "sinkhorn", or "exact" where Sinkhorn did not converge at the asked regularization:
    the plan is then the exact one, the limit of Sinkhorn's plans as the regularization shrinks.
    """

    plan: np.ndarray
    exact: np.ndarray
    solver: Literal["sinkhorn", "exact"]


def exact_plan(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """An exact (earth mover's) optimal plan between ``a`` and ``b``, each renormalized to sum 1."""
    return ot.emd(_histogram(a), _histogram(b), np.asarray(cost, dtype=np.float64))


def transport_plan(a: np.ndarray, b: np.ndarray, cost: np.ndarray, reg: float) -> TransportPlan:
    """Sinkhorn's plan at ``reg``, or the exact plan where Sinkhorn does not converge (one position
    must not sink a whole alignment; the plan says which it is)."""
    if reg <= 0:
        raise ValueError("the Sinkhorn regularization must be positive")
    exact = exact_plan(a, b, cost)
    try:
        return TransportPlan(sinkhorn_plan(a, b, cost, reg), exact, "sinkhorn")
    except ValueError:
        return TransportPlan(exact, exact, "exact")
