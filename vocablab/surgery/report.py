"""Read back what a transplant wrote: anchors of each new token, nearest shared tokens, a 2-D map."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from vocablab.errors import DISK_FULL, VocabLabError
from vocablab.options import MAP_POINTS, MAP_PROJECTIONS, MapProjection
from vocablab.sources import Source, load_vocabulary
from vocablab.surgery.checkpoint import find_embeddings, read_tensor
from vocablab.surgery.engine import ANCHORS, REPORT
from vocablab.vocab import Vocabulary


@dataclass
class TransplantReport:
    out_dir: Path
    settings: dict
    anchors: dict[str, torch.Tensor]
    vocab: Vocabulary  # the donor's tokenizer, now the model's

    @classmethod
    def load(cls, out_dir: str | Path) -> TransplantReport:
        out_dir = Path(out_dir)
        if not (out_dir / REPORT).is_file():
            raise VocabLabError(f"{out_dir} holds no transplant report ({REPORT})")
        return cls(
            out_dir,
            json.loads((out_dir / REPORT).read_text()),
            load_file(str(out_dir / ANCHORS)),
            load_vocabulary(Source(out_dir.name, "local", out_dir)),  # a folder vocablab wrote; named without its path
        )

    def token_text(self, token_id: int) -> str:
        return self.vocab.label(token_id)

    @cached_property
    def new_ids(self) -> list[int]:
        return self.anchors["new_ids"].tolist()

    @cached_property
    def _row_of(self) -> dict[int, int]:
        return {token: row for row, token in enumerate(self.new_ids)}

    def search(self, query: str = "", limit: int = 200) -> list[tuple[str, int]]:
        """New tokens whose text contains ``query``: (label, token id), shortest first."""
        hits = [(self.token_text(i), i) for i in self.new_ids if query in self.token_text(i)]
        hits.sort(key=lambda hit: (len(hit[0]), hit[0]))
        return [(f"{text}  (id {i})", i) for text, i in hits[:limit]]

    def anchor_rows(self, token_id: int, matrix: str = "embed") -> list[dict]:
        """The anchors of one new token with their coefficients, in pick order."""
        if f"{matrix}.anchors" not in self.anchors:
            raise VocabLabError(f"the {self.settings['method']} method records no anchors")
        row = self._row_of.get(token_id)
        if row is None:
            raise VocabLabError(f"token {token_id} was not approximated (it is shared, or a special token)")
        ids = self.anchors[f"{matrix}.anchors"][row].tolist()
        coefficients = self.anchors[f"{matrix}.coefficients"][row].tolist()
        return [
            {"anchor": self.token_text(i), "id": i, "coefficient": c} for i, c in zip(ids, coefficients, strict=True)
        ]

    def error(self, token_id: int, matrix: str = "embed") -> float | None:
        key = f"{matrix}.error"
        return self.anchors[key][self._row_of[token_id]].item() if key in self.anchors else None

    @cached_property
    def embedding(self) -> torch.Tensor:
        return read_tensor(self.out_dir, find_embeddings(self.out_dir)[0]).float()

    @cached_property
    def shared_ids(self) -> list[int]:
        new = set(self.new_ids)
        return [i for i in self.vocab.text_ids if i not in new and i < len(self.embedding)]

    def nearest_shared(self, token_id: int, count: int = 10) -> list[dict]:
        """Shared tokens whose transplanted rows are closest by cosine to this token's row."""
        if not self.embedding[token_id].any():
            return []  # a zero row (the zero method) has no direction, so no nearest token
        shared = torch.tensor(self.shared_ids)
        rows = torch.nn.functional.normalize(self.embedding[shared], dim=1)
        query = torch.nn.functional.normalize(self.embedding[token_id], dim=0)
        sims, order = (rows @ query).topk(count)
        return [
            {"token": self.token_text(int(shared[i])), "cosine": round(s, 4)}
            for s, i in zip(sims.tolist(), order.tolist(), strict=True)
        ]

    def embedding_map(
        self,
        points: int = MAP_POINTS,
        projection: MapProjection = "pca",
        seed: int = 0,
        project: Callable | None = None,
    ) -> dict:
        """A 2-D map of a sample of ``points`` rows of the transplanted input embedding, 3 shared to 1 new:
        by PCA (instant) or UMAP (cosine; a minute or more on a CPU). ``project`` computes the
        coordinates (default :func:`project_rows`; the app passes one that runs it in a worker process)."""
        if projection not in MAP_PROJECTIONS:
            raise VocabLabError(f"unknown map projection {projection!r}; use one of {', '.join(MAP_PROJECTIONS)}")
        if points < 10:
            raise VocabLabError(f"a map needs at least 10 points, not {points}")
        gen = torch.Generator().manual_seed(seed)
        n_new = points // 4
        shared = torch.tensor(self.shared_ids)[torch.randperm(len(self.shared_ids), generator=gen)[: points - n_new]]
        sampled = torch.tensor(self.new_ids, dtype=torch.long)[torch.randperm(len(self.new_ids), generator=gen)[:n_new]]
        # a point per distinct row: the mean method gives every new token the same row, and a zero row
        # has no direction for the cosine metric
        distinct, first = {}, []
        for i in sampled.tolist():
            row = self.embedding[i]
            if row.any() and distinct.setdefault(row.numpy().tobytes(), i) == i:
                first.append(i)
        new = torch.tensor(first, dtype=torch.long)
        ids = torch.cat([shared, new]).tolist()
        coords = (project or project_rows)(self.embedding[ids].numpy(), projection, seed)
        note = ""
        if len(new) < len(sampled):
            note = f"{len(sampled):,} sampled new rows, {len(new):,} distinct and not zero, shown once each"
        return {
            "x": coords[:, 0].tolist(),
            "y": coords[:, 1].tolist(),
            "text": [self.token_text(i) for i in ids],
            "kind": ["shared (base row)"] * len(shared) + ["new (transplanted)"] * len(new),
            "note": note,
            "projection": "UMAP, cosine" if projection == "umap" else "PCA of unit rows",
        }


def project_rows(rows: np.ndarray, projection: MapProjection, seed: int = 0) -> np.ndarray:
    """2-D coordinates of ``rows``: the first two principal components of the rows scaled to unit
    length (cosine geometry, like the UMAP), or a UMAP with the cosine metric."""
    if projection == "umap":
        import umap

        reducer = umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine", random_state=seed, n_jobs=1)
        return reducer.fit_transform(rows)
    unit = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    centred = unit - unit.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def write_archive(out_dir: str | Path) -> Path:
    """A .zip of the model folder beside it (stored, not compressed: weights barely compress)."""
    import zipfile

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise VocabLabError(f"{out_dir.name}: no such model folder (it may have expired)")
    target = out_dir.parent / f"{out_dir.name}.zip"  # not with_suffix: "Qwen2.5-0.5B-..." has dots
    partial = out_dir.parent / f".{out_dir.name}.zip.partial"  # hidden until complete
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
            for path in sorted(out_dir.rglob("*")):
                if path.is_file():
                    archive.write(path, Path(out_dir.name) / path.relative_to(out_dir))
        partial.rename(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        reason = "the disk is full" if exc.errno in DISK_FULL else exc.strerror
        raise VocabLabError(f"the archive could not be written ({reason}); nothing was left behind") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def push_to_hub(out_dir: str | Path, repo_id: str, token: str) -> str:
    """Upload the model folder to a private hub repository; the token is used, never logged."""
    from huggingface_hub import HfApi

    if not repo_id.strip() or not token.strip():
        raise VocabLabError("give a repository id (user/name) and a hub token with write access")
    api = HfApi(token=token.strip())
    try:
        api.create_repo(repo_id.strip(), private=True, exist_ok=True)
        public = not api.repo_info(repo_id.strip()).private  # it existed already, and is public
        if not public:
            api.upload_folder(folder_path=str(out_dir), repo_id=repo_id.strip())
    except Exception as exc:  # noqa: BLE001 - network, auth and permission errors all end here
        raise VocabLabError(
            f"push to {repo_id} failed ({type(exc).__name__}); check the network and the token"
        ) from exc
    if public:
        raise VocabLabError(f"{repo_id} exists and is public; pushing would publish this model (name a new repository)")
    return f"https://huggingface.co/{repo_id.strip()}"
