"""A held-out check of transplant methods: hide some shared tokens, rebuild them, compare.

A random fraction of the shared tokens is treated as new: each method rebuilds their base rows
from the remaining shared tokens only, and the mean cosine similarity to the true base rows says
how well it recovers them (1 = perfect, 0 = unrelated).
"""

from __future__ import annotations

import torch

from vocablab.options import TRANSPLANT_K, TRANSPLANT_MATCH, MatchMode
from vocablab.sources import load_vocabulary, resolve
from vocablab.surgery import baselines
from vocablab.surgery.checkpoint import EmbeddingRows, find_embeddings, read_tensor
from vocablab.surgery.matching import match_tokens
from vocablab.surgery.omp import batch_omp, combine


def heldout_cosine(
    base: str,
    donor: str,
    *,
    fraction: float = 0.05,
    k: int = TRANSPLANT_K,
    seed: int = 0,
    match: MatchMode = TRANSPLANT_MATCH,
) -> dict[str, float]:
    """Mean cosine similarity of rebuilt to true base input-embedding rows, per method.

    The subword method is left out: the base tokenizer still holds the hidden tokens, so it
    would find them whole.
    """
    base_src, donor_src = resolve(base, need="model"), resolve(donor, need="model")
    matched = match_tokens(load_vocabulary(base_src), load_vocabulary(donor_src), match)
    base_rows = EmbeddingRows(base_src.path, find_embeddings(base_src.path)[0])
    donor_embed = read_tensor(donor_src.path, find_embeddings(donor_src.path)[0]).float()
    pairs = [(d, b) for d, b in enumerate(matched.base_id) if b >= 0 and d < len(donor_embed)]
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed)).tolist()
    hidden_count = max(1, int(len(pairs) * fraction))
    hidden = [pairs[i] for i in order[:hidden_count]]
    kept = [pairs[i] for i in order[hidden_count:]]

    truth = base_rows.rows([b for _, b in hidden]).float()
    kept_base = base_rows.rows([b for _, b in kept]).float()
    dictionary = donor_embed[[d for d, _ in kept]]
    targets = donor_embed[[d for d, _ in hidden]]
    predictions = {
        "zero": torch.zeros_like(truth),
        "mean": base_rows.mean().expand_as(truth),
    }
    idx, weights = baselines.knn_weights(targets, dictionary, k)
    predictions["knn"] = combine(weights, kept_base, idx)
    idx, coef = batch_omp(targets, dictionary, k)
    predictions["omp"] = combine(coef, kept_base, idx)
    return {
        method: torch.nn.functional.cosine_similarity(pred, truth, dim=1).mean().item()
        for method, pred in predictions.items()
    }
