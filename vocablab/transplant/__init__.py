"""Tokenizer transplant by orthogonal matching pursuit (Goddard & Fernandes Neto 2025)."""

from vocablab.transplant.engine import TransplantResult, transplant
from vocablab.transplant.omp import batch_omp

__all__ = ["TransplantResult", "batch_omp", "transplant"]
