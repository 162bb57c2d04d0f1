"""Rows for new tokens by the simple methods OMP is compared with (docs/methods.md §3).

Each returns (rows for the new tokens in the base space, anchors in shared-token positions or None,
weights or None). Pure torch, no I/O.
"""

from __future__ import annotations

import torch

from vocablab.vocab import Vocabulary


def subword_token_ids(pieces: list[bytes], base: Vocabulary, base_rows: int) -> list[list[int]]:
    """Fast vocabulary transfer, step 1: the base tokenization of each new token's bytes (partial
    UTF-8 tokens use the base's single-byte tokens when it has them)."""
    by_bytes = base.ids_by_bytes()
    out = []
    for piece in pieces:
        try:
            ids = base.encode(piece.decode("utf-8")) if piece else []
        except UnicodeDecodeError:
            ids = [by_bytes[bytes([b])][0] for b in piece if bytes([b]) in by_bytes]
        out.append([i for i in ids if i < base_rows])
    return out


def subword_rows(
    token_ids: list[list[int]], rows: torch.Tensor, row_ids: list[int], mean: torch.Tensor
) -> torch.Tensor:
    """Step 2: the mean of those base rows (``rows[j]`` is base row ``row_ids[j]``); the base's
    mean row for a token with no base tokens."""
    position = {row: j for j, row in enumerate(row_ids)}
    out = mean.expand(len(token_ids), -1).clone()
    for n, ids in enumerate(token_ids):
        if ids:
            out[n] = rows[[position[i] for i in ids]].float().mean(dim=0)
    return out


def knn_weights(targets: torch.Tensor, dictionary: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k shared tokens nearest by cosine in the donor space, weighted by their (positive)
    similarity; uniform weights when none is positive."""
    unit_targets = torch.nn.functional.normalize(targets.float(), dim=1)
    unit_atoms = torch.nn.functional.normalize(dictionary.float(), dim=1)
    indices = torch.empty(len(targets), k, dtype=torch.long)
    weights = torch.empty(len(targets), k, dtype=torch.float32)
    for start in range(0, len(targets), 1024):
        sims, idx = (unit_targets[start : start + 1024] @ unit_atoms.T).topk(k, dim=1)
        sims = sims.clamp_min(0)
        total = sims.sum(dim=1, keepdim=True)
        weights[start : start + 1024] = torch.where(total > 0, sims / total.clamp_min(1e-12), 1.0 / k)
        indices[start : start + 1024] = idx
    return indices, weights
