"""Tokenizer transplant by orthogonal matching pursuit (Goddard & Fernandes Neto 2025)."""

from vocablab.transplant.engine import METHODS, TransplantResult, transplant
from vocablab.transplant.omp import batch_omp

__all__ = ["METHODS", "TransplantResult", "batch_omp", "transplant"]
