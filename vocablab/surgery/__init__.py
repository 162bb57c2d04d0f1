"""Tokenizer surgery: the transplant by orthogonal matching pursuit (Goddard & Fernandes Neto 2025).

Named apart from :func:`vocablab.transplant`, the function it provides, so each name means one thing."""

from vocablab.surgery.engine import TransplantResult, transplant
from vocablab.surgery.omp import batch_omp

__all__ = ["TransplantResult", "batch_omp", "transplant"]
