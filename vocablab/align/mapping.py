"""Put two vocabularies in one embedding space through a transplant, for the embedding cost.

A transplant of base X with donor Y's tokenizer (``vocablab transplant``) gives every token of Y a
row in X's embedding space: shared tokens keep X's row, the others are the OMP combination of their
anchors' X rows. So X's own rows and the transplanted rows can be compared directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vocablab import reach
from vocablab.errors import VocabLabError
from vocablab.options import ANCHOR_METHODS
from vocablab.sources import Source, same_model
from vocablab.surgery.checkpoint import EmbeddingRows, find_embeddings
from vocablab.surgery.engine import REPORT
from vocablab.surgery.report import TransplantReport
from vocablab.vocab import Vocabulary


def find_transplant(a: Source, b: Source, root: Path | None = None) -> Path | None:
    """The newest transplant folder under ``root`` made from these two models, in either direction
    (default: the earlier runs the resolver's policy lets the caller search, :mod:`vocablab.reach`)."""
    found = []
    for report in root.glob(f"*/{REPORT}") if root else (run / REPORT for run in reach.current().runs()):
        if not report.is_file():
            continue
        try:
            settings = json.loads(report.read_text())
        except (OSError, ValueError):
            continue
        if settings.get("method") not in ANCHOR_METHODS:
            continue
        base, donor = settings.get("base", ""), settings.get("donor", "")
        if (same_model(base, a) and same_model(donor, b)) or (same_model(base, b) and same_model(donor, a)):
            found.append(report.parent)
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


class TokenMapping:
    """Vectors for tokens of A and of B in the transplant base's input-embedding space."""

    def __init__(self, folder: Path, a: Source, b: Source, vocab_a: Vocabulary, vocab_b: Vocabulary) -> None:
        report = TransplantReport.load(folder)
        settings = report.settings
        if settings.get("method") not in ANCHOR_METHODS:
            raise VocabLabError(
                f"{folder} was made with the {settings.get('method')!r} method, which places new tokens without "
                f"anchors; the embedding cost needs an OMP (or kNN) transplant"
            )
        if same_model(settings["base"], a):
            self.base_is_a, base, other_vocab = True, a, vocab_b
        elif same_model(settings["base"], b):
            self.base_is_a, base, other_vocab = False, b, vocab_a
        else:
            raise VocabLabError(f"{folder} is a transplant of {settings['base']!r}, neither {a.spec!r} nor {b.spec!r}")
        if report.vocab.pieces != other_vocab.pieces:
            raise VocabLabError(
                f"{folder} carries the tokenizer of {settings['donor']!r}, not that of {other_vocab.name!r}"
            )
        if base.gguf_file:
            raise VocabLabError("the embedding cost reads the base model's safetensors; a GGUF base is not supported")
        self.folder = folder
        self.base_rows = EmbeddingRows(base.path, find_embeddings(base.path)[0])
        self.mapped_rows = report.embedding

    @classmethod
    def for_models(
        cls, a: Source, b: Source, vocab_a: Vocabulary, vocab_b: Vocabulary, folder: str | Path | None = None
    ) -> TokenMapping:
        """The mapping in ``folder``, or the newest matching transplant in the workspace."""
        if folder is None:
            folder = find_transplant(a, b)
            if folder is None:
                # the larger vocabulary as the base: the donor's new tokens are then the fewer
                base, donor = (a, b) if len(vocab_a) >= len(vocab_b) else (b, a)
                raise VocabLabError(
                    f"the embedding cost needs a transplant between {a.spec} and {b.spec}, and none exists yet: "
                    f"make one in the Transplant view with base {base.spec} and donor {donor.spec} (it is then "
                    f"found by itself), or with `vocablab transplant --base {base.spec} --donor {donor.spec} "
                    "--out DIR` and --transplant DIR; or choose the edit or exact cost"
                )
        folder = Path(folder).expanduser()
        if not (folder / REPORT).is_file():
            raise VocabLabError(f"{folder} is not a transplant output (no {REPORT})")
        return cls(folder, a, b, vocab_a, vocab_b)

    def vectors(self, ids_a: list[int], ids_b: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows for tokens of A and of B, both in the base model's space."""
        base_ids, mapped_ids = (ids_a, ids_b) if self.base_is_a else (ids_b, ids_a)
        base = _rows_or_zero(base_ids, len(self.base_rows), lambda ids: self.base_rows.rows(ids).float())
        mapped = _rows_or_zero(mapped_ids, len(self.mapped_rows), lambda ids: self.mapped_rows[ids])
        return (base, mapped) if self.base_is_a else (mapped, base)


def _rows_or_zero(ids: list[int], size: int, read) -> torch.Tensor:
    """Rows for ``ids``; ids past the matrix (a model's padded output rows) get a zero vector."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    inside = ids < size
    rows = read(ids[inside])
    out = torch.zeros(len(ids), rows.shape[1])
    out[inside] = rows.float()
    return out
