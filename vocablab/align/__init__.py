"""Cross-tokenizer alignment of next-token distributions: the ULD loss, transport plans, distillation."""

from vocablab.align.engine import AlignResult, align_text
from vocablab.align.uld import uld_loss, uld_rank_plan

__all__ = ["AlignResult", "align_text", "uld_loss", "uld_rank_plan"]
