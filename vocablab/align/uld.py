"""The Universal Logit Distillation loss (Boizard et al. 2024; docs/methods.md §6).

At one position, with p = softmax(teacher logits / T) and q = softmax(student logits / T), the shorter
vector is padded with zeros, both are sorted in descending order and

    ULD = sum_r |p_(r) - q_(r)|.

Sorting forgets which token is which, so the two vocabularies never need to match. The sum equals N
times the 1-D Wasserstein-1 distance between the two sets of N probability values, whose optimal
coupling sends rank r to rank r with mass 1/N: that is ULD's transport plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def sorted_padded(p: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Probability rows sorted in descending order and padded with zeros to the longer vocabulary
    (sorting before padding is the same, as probabilities are never negative, and sorts fewer values)."""
    n = max(p.shape[-1], q.shape[-1])
    p = p.sort(dim=-1, descending=True).values
    q = q.sort(dim=-1, descending=True).values
    return F.pad(p, (0, n - p.shape[-1])), F.pad(q, (0, n - q.shape[-1]))


def uld_loss(
    teacher_logits: torch.Tensor,
    student_logits: torch.Tensor,
    temperature: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """ULD between rows of logits over two vocabularies (any sizes), differentiable in both.

    ``teacher_logits`` is (..., V_t) and ``student_logits`` (..., V_s) with the same leading shape
    (one row per aligned position). ``reduction``: "mean" over positions, "sum", or "none".

    >>> uld_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[9.0, 0.0, 0.0]])).item() > 0
    True
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    p = torch.softmax(teacher_logits.float() / temperature, dim=-1)
    q = torch.softmax(student_logits.float() / temperature, dim=-1)
    p_sorted, q_sorted = sorted_padded(p, q)
    per_position = (p_sorted - q_sorted).abs().sum(dim=-1)
    if reduction == "none":
        return per_position
    return per_position.sum() if reduction == "sum" else per_position.mean()


@dataclass
class RankPlan:
    """The top ``k`` ranks of ULD's plan at one position: rank r of p goes to rank r of q.

    ``ids_p``/``ids_q`` are the token ids at each rank (ids past a vocabulary's end are its zero
    padding); every pair carries mass 1/n and costs |p_(r) - q_(r)|. Over all n ranks (k = n) the
    costs sum to the ULD value.
    """

    ids_p: list[int]
    ids_q: list[int]
    p: list[float]
    q: list[float]
    mass: float
    cost: list[float]
    n: int


def uld_rank_plan(p: torch.Tensor, q: torch.Tensor, k: int) -> RankPlan:
    """ULD's rank-to-rank plan between two probability vectors (one position), kept to the top ``k``
    ranks (a top-k selection, not a full sort: cheap on 262k-token vocabularies)."""
    n = max(p.shape[-1], q.shape[-1])
    p_top, p_ids = F.pad(p.double(), (0, n - p.shape[-1])).topk(k)
    q_top, q_ids = F.pad(q.double(), (0, n - q.shape[-1])).topk(k)
    return RankPlan(
        ids_p=p_ids.tolist(),
        ids_q=q_ids.tolist(),
        p=p_top.tolist(),
        q=q_top.tolist(),
        mass=1.0 / n,
        cost=(p_top - q_top).abs().tolist(),
        n=n,
    )
