"""Rows for new tokens by the simple methods OMP is compared with (ALGORITHMS.md section 3).

Each returns (rows for the new tokens in the base space, anchors in shared-token positions or None,
weights or None). Pure torch, no I/O.
"""

from __future__ import annotations

import torch

from vocablab.vocab import Vocabulary


def zero_rows(count: int, base_rows: torch.Tensor) -> torch.Tensor:
    return torch.zeros(count, base_rows.shape[1], dtype=torch.float32)


def mean_rows(count: int, base_rows: torch.Tensor) -> torch.Tensor:
    return base_rows.float().mean(dim=0, keepdim=True).expand(count, -1).clone()


def subword_rows(pieces: list[bytes], base: Vocabulary, base_rows: torch.Tensor) -> torch.Tensor:
    """Fast vocabulary transfer: the mean of the base rows of the base tokenization of each new
    token's text (by bytes, so partial UTF-8 tokens use the base's byte tokens when it has them)."""
    mean = base_rows.float().mean(dim=0)
    by_bytes = base.ids_by_bytes()
    out = torch.empty(len(pieces), base_rows.shape[1], dtype=torch.float32)
    for n, piece in enumerate(pieces):
        try:
            ids = base.encode(piece.decode("utf-8"))
        except UnicodeDecodeError:
            ids = [by_bytes[bytes([b])][0] for b in piece if bytes([b]) in by_bytes]
        ids = [i for i in ids if i < base_rows.shape[0]]
        out[n] = base_rows[ids].float().mean(dim=0) if ids else mean
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
