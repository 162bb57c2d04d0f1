"""ULD, transport plans and position alignment, against scipy, POT and brute force."""

from __future__ import annotations

import functools
import random

import numpy as np
import ot
import pytest
import torch
from scipy.optimize import linprog
from scipy.stats import wasserstein_distance

from vocablab.align.engine import byte_ends
from vocablab.align.positions import align_positions
from vocablab.align.transport import byte_edit_distance, embedding_costs, sinkhorn_plan, token_costs, transport_plan
from vocablab.align.uld import uld_loss, uld_rank_plan
from vocablab.options import MIN_SINKHORN_REG
from vocablab.sources import load_vocabulary


def padded(p: torch.Tensor, n: int) -> np.ndarray:
    return np.concatenate([p.double().numpy(), np.zeros(n - len(p))])


@pytest.mark.parametrize(("v_teacher", "v_student", "temperature"), [(7, 11, 1.0), (50, 50, 0.7), (300, 40, 2.0)])
def test_uld_is_n_times_the_wasserstein_distance_of_the_probability_values(v_teacher, v_student, temperature):
    gen = torch.Generator().manual_seed(v_teacher)
    teacher = torch.randn(5, v_teacher, generator=gen) * 3
    student = torch.randn(5, v_student, generator=gen) * 3
    per_position = uld_loss(teacher, student, temperature, reduction="none")
    n = max(v_teacher, v_student)
    for i in range(5):
        p = torch.softmax(teacher[i] / temperature, -1)
        q = torch.softmax(student[i] / temperature, -1)
        expected = n * wasserstein_distance(padded(p, n), padded(q, n))
        assert per_position[i].item() == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert uld_loss(teacher, student, temperature).item() == pytest.approx(per_position.mean().item())
    assert uld_loss(teacher, student, temperature, reduction="sum").item() == pytest.approx(per_position.sum().item())


def test_uld_ignores_which_token_is_which():
    logits = torch.randn(3, 20)
    assert uld_loss(logits, logits[:, torch.randperm(20)]).item() == pytest.approx(0.0, abs=1e-6)
    # a class with probability 0 is what zero padding adds: it changes nothing
    extra = torch.cat([logits, torch.full((3, 5), -torch.inf)], dim=-1)
    assert uld_loss(logits, extra).item() == pytest.approx(0.0, abs=1e-6)
    assert uld_loss(logits, logits + torch.randn(3, 20)).item() > 0.01


def test_gradient_steps_on_the_student_lower_uld():
    gen = torch.Generator().manual_seed(0)
    teacher = torch.randn(4, 30, generator=gen) * 2
    student = torch.randn(4, 17, generator=gen).requires_grad_(True)
    optimizer = torch.optim.SGD([student], lr=5.0)
    start = uld_loss(teacher, student).item()
    for _ in range(30):
        optimizer.zero_grad()
        loss = uld_loss(teacher, student)
        loss.backward()
        optimizer.step()
    assert student.grad is not None and torch.isfinite(student.grad).all()
    assert uld_loss(teacher, student).item() < 0.5 * start


def test_rank_plan_pairs_rank_r_with_rank_r_and_sums_to_uld():
    gen = torch.Generator().manual_seed(1)
    p = torch.softmax(torch.randn(12, generator=gen), -1)
    q = torch.softmax(torch.randn(9, generator=gen), -1)
    plan = uld_rank_plan(p, q, k=12)
    assert plan.n == 12 and plan.ids_p == p.argsort(descending=True).tolist()
    assert plan.ids_q[:9] == q.argsort(descending=True).tolist() and set(plan.ids_q[9:]) >= {9}  # padding
    # as a coupling of the two value sets: an n x n permutation with mass 1/n, uniform marginals
    coupling = np.zeros((plan.n, plan.n))
    coupling[range(plan.n), range(plan.n)] = plan.mass
    np.testing.assert_allclose(coupling.sum(axis=0), 1 / plan.n)
    np.testing.assert_allclose(coupling.sum(axis=1), 1 / plan.n)
    uld = uld_loss(p.log()[None], q.log()[None]).item()
    assert plan.n * plan.mass * sum(plan.cost) == pytest.approx(uld, rel=1e-5)
    assert len(uld_rank_plan(p, q, k=4).cost) == 4


def naive_edit_distance(a: bytes, b: bytes) -> int:
    @functools.cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_byte_edit_distance_matches_the_recursive_definition():
    rng = random.Random(0)
    for _ in range(300):
        a = bytes(rng.choice(b"abc ") for _ in range(rng.randint(0, 7)))
        b = bytes(rng.choice(b"abc ") for _ in range(rng.randint(0, 7)))
        assert byte_edit_distance(a, b) == naive_edit_distance(a, b)


def test_token_costs():
    pieces_a, pieces_b = [b" the", b"cat", None], [b" the", b"cut", None, b""]
    exact = token_costs(pieces_a, pieces_b, "exact", ["a", "b", "eos"], ["a", "b", "eos", "c"])
    np.testing.assert_array_equal(exact, [[0, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 1]])
    edit = token_costs(pieces_a, pieces_b, "edit", ["a", "b", "eos"], ["a", "b", "bos", "c"])
    assert edit[0, 0] == 0 and edit[1, 1] == pytest.approx(1 / 3) and edit[1, 3] == 1.0
    assert edit[0, 1] == pytest.approx(naive_edit_distance(b" the", b"cut") / 4)
    assert edit[2, 2] == 1.0  # specials with different roles
    assert edit.min() >= 0 and edit.max() <= 1
    vectors = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(embedding_costs(vectors, -vectors), [[1.0, 0.5], [0.5, 1.0]])


def random_case(seed: int, m: int = 5, n: int = 6):
    rng = np.random.default_rng(seed)
    a, b = rng.random(m) + 0.05, rng.random(n) + 0.05
    return a / a.sum(), b / b.sum(), rng.random((m, n))


@pytest.mark.parametrize("seed", range(4))
def test_sinkhorn_plan_has_the_top_k_marginals(seed):
    a, b, cost = random_case(seed)
    plan = sinkhorn_plan(3 * a, 2 * b, cost, reg=0.05)  # renormalized to sum 1 first
    np.testing.assert_allclose(plan.sum(axis=1), a, atol=1e-7)
    np.testing.assert_allclose(plan.sum(axis=0), b, atol=1e-7)
    assert (plan >= 0).all()
    a[1:3] = 0  # probabilities that underflowed to zero
    plan = sinkhorn_plan(a, b, cost, reg=0.05)
    np.testing.assert_allclose(plan.sum(axis=1), a / a.sum(), atol=1e-7)
    np.testing.assert_allclose(plan.sum(axis=0), b, atol=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_sinkhorn_approaches_the_exact_plan_as_regularization_shrinks(seed):
    a, b, cost = random_case(seed)
    exact = ot.emd2(a, b, cost)
    regs = (0.3, 0.1, 0.03, 0.01, MIN_SINKHORN_REG, 0.003)  # the library solves below the app's floor
    gaps = [float((sinkhorn_plan(a, b, cost, reg) * cost).sum()) - exact for reg in regs]
    assert all(gap >= -1e-7 for gap in gaps)  # never below the optimum
    assert gaps == sorted(gaps, reverse=True)
    assert gaps[-1] < 1e-3


def test_sinkhorn_refuses_a_regularization_it_cannot_solve_instead_of_a_nan_plan():
    a, b, cost = random_case(0)
    with pytest.raises(ValueError, match="use a larger one"):
        sinkhorn_plan(a, b, cost, reg=1e-9)


def linprog_transport_cost(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
    """The optimal transport cost from the definition: the cheapest plan P >= 0 with row sums a and column
    sums b, by scipy's linear programming."""
    m, n = cost.shape
    rows = np.kron(np.eye(m), np.ones(n))  # sum_j P[i, j] = a[i]
    columns = np.kron(np.ones(m), np.eye(n))  # sum_i P[i, j] = b[j]
    solved = linprog(cost.ravel(), A_eq=np.vstack([rows, columns]), b_eq=np.concatenate([a, b]), bounds=(0, None))
    assert solved.success
    return float(solved.fun)


# Gemma-3-270M's top-20 after "Paris is" (its own transplant with SmolLM2's tokenizer predicts nearly the
# same). Against itself: two equal histograms whose edit costs couple the tokens only weakly at regularization
# 0.05 (exp(-cost / reg) is 1 on the diagonal, e^-6.7 to e^-20 elsewhere), so Sinkhorn's scalings converge at
# a rate close to 1 and 20,000 iterations do not reach the marginals.
NEAR_TIE_TOKENS = [
    " a", " the", " one", " known", " an", " my", " not", " full", " home", " famous",
    " in", " hosting", " to", " always", " getting", " on", " often", " renowned", " celebrating", " like",
]  # fmt: skip
NEAR_TIE_PROBS = [
    0.2768, 0.197, 0.071, 0.0558, 0.0384, 0.0192, 0.016, 0.0152, 0.0134, 0.0126,
    0.0125, 0.0086, 0.0073, 0.0065, 0.0064, 0.0061, 0.006, 0.0055, 0.0054, 0.005,
]  # fmt: skip


def test_a_position_where_sinkhorn_does_not_converge_gets_the_exact_optimal_plan():
    pieces = [token.encode() for token in NEAR_TIE_TOKENS]
    cost = token_costs(pieces, pieces, "edit")
    a = np.array(NEAR_TIE_PROBS) / sum(NEAR_TIE_PROBS)
    with pytest.raises(ValueError, match="did not converge"):  # the case does make Sinkhorn fail
        sinkhorn_plan(a, a, cost, reg=0.05)
    result = transport_plan(a, a, cost, reg=0.05)
    assert result.solver == "exact"
    np.testing.assert_allclose(result.plan.sum(axis=1), a, atol=1e-9)
    np.testing.assert_allclose(result.plan.sum(axis=0), a, atol=1e-9)
    assert (result.plan >= 0).all()
    assert float((result.plan * cost).sum()) == pytest.approx(linprog_transport_cost(a, a, cost), abs=1e-9)
    # where Sinkhorn converges its plan is kept, and the exact plan beside it is optimal too
    b, c, random_cost = random_case(1)
    kept = transport_plan(b, c, random_cost, reg=0.05)
    assert kept.solver == "sinkhorn"
    np.testing.assert_allclose(kept.plan, sinkhorn_plan(b, c, random_cost, reg=0.05))
    optimum = linprog_transport_cost(b, c, random_cost)
    assert float((kept.exact * random_cost).sum()) == pytest.approx(optimum, abs=1e-9)


@pytest.mark.slow  # real tokenizers
def test_byte_alignment_pairs_positions_that_have_read_the_same_text():
    text = "The 2 cats sat on 1,234 mats; naively, everyone's tokenizer splits differently!"
    gpt2, mistral = load_vocabulary("gpt2"), load_vocabulary("mistral")
    ends = {}
    for vocab in (gpt2, mistral):
        ids = vocab.encode(text)
        ends[vocab.name] = byte_ends(vocab, ids)
        # the tokenizer's own character offsets (ASCII text: characters are bytes)
        offsets = vocab.backend.encode(text, add_special_tokens=False).offsets
        assert ends[vocab.name] == [0] + [end for _, end in offsets]
    pairs = align_positions(ends["gpt2"], ends["mistral"], "bytes")
    common = sorted(set(ends["gpt2"][:-1]) & set(ends["mistral"][:-1]))
    assert [p.byte_a for p in pairs] == common and all(p.byte_a == p.byte_b for p in pairs)
    for p in pairs:
        assert ends["gpt2"][p.index_a] == ends["mistral"][p.index_b] == p.byte_a
    assert len(pairs) < len(ends["mistral"]) - 1  # some of Mistral's finer positions have no partner
    by_index = align_positions(ends["gpt2"], ends["mistral"], "index")
    assert [(p.index_a, p.index_b) for p in by_index] == [(i, i) for i in range(len(by_index))]
    assert len(by_index) == min(len(ends["gpt2"]), len(ends["mistral"])) - 1
    assert any(p.byte_a != p.byte_b for p in by_index)
