"""vocablab: look inside LLM vocabularies and make models with different tokenizers work together.

The public API, one function per capability (each docstring has a short example that CI runs):

- :func:`compare_tokenization`, :func:`compare_numbers`: the same text tokenized side by side, the
  overlap of vocabularies by bytes, and how tokenizers split numbers;
- :func:`transplant`: give a base model a donor's tokenizer without training (OMP);
- :func:`generate_reduced`, :func:`generate_ensemble`: lossless vocabulary reduction, and ensembles
  of models with different tokenizers;
- :func:`speculate`, :func:`draft_fit`: speculative decoding with a draft of another tokenizer, and
  how well a draft fits a target before anything runs;
- :func:`align_text`, :func:`distill`: ULD and transport plans between two models' next-token
  distributions, and cross-tokenizer distillation;
- :func:`bits_per_byte`: compare models across tokenizers per byte of text.

Models are named as presets (``"smollm2-135m"``), hub ids (``"org/name@rev"``), local folders or
``.gguf`` files. Importing vocablab is cheap: each name loads its module (and torch) on first use.
"""

from __future__ import annotations

import importlib
import sys
import types
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from vocablab import reach as _reach

try:
    __version__ = version("vocablab")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"


def _app_reach():
    from vocablab.outputs import app_reach  # loaded when a model is first resolved, not with vocablab

    return app_reach()


# The app's runs (output:NAME) and its public mode hold for every entry point on this machine (the
# app, the CLI, scripts); the resolver itself only asks vocablab.reach.
_reach.install(_app_reach)

_API = {
    "compare_tokenization": "vocablab.compare",
    "TokenComparison": "vocablab.compare",
    "compare_numbers": "vocablab.numbers",
    "NumberComparison": "vocablab.numbers",
    "transplant": "vocablab.transplant.engine",
    "TransplantResult": "vocablab.transplant.engine",
    "generate_reduced": "vocablab.reduce.generate",
    "generate_ensemble": "vocablab.reduce.generate",
    "Generation": "vocablab.reduce.generate",
    "speculate": "vocablab.reduce.speculate",
    "Speculation": "vocablab.reduce.speculate",
    "draft_fit": "vocablab.reduce.draft_fit",
    "DraftFit": "vocablab.reduce.draft_fit",
    "align_text": "vocablab.align.engine",
    "AlignResult": "vocablab.align.engine",
    "distill": "vocablab.align.distill",
    "DistillResult": "vocablab.align.distill",
    "bits_per_byte": "vocablab.evaluate",
    "BitsPerByte": "vocablab.evaluate",
    "Decoding": "vocablab.options",
    "VocabLabError": "vocablab.errors",
    "Source": "vocablab.sources",
    "resolve": "vocablab.sources",
    "load_vocabulary": "vocablab.sources",
    "load_causal_lm": "vocablab.sources",
    "Vocabulary": "vocablab.vocab",
    "compare_vocabularies": "vocablab.compare",
    "maximal_common_vocabulary": "vocablab.compare",
}

__all__ = [
    "AlignResult",
    "BitsPerByte",
    "Decoding",
    "DistillResult",
    "DraftFit",
    "Generation",
    "NumberComparison",
    "Source",
    "Speculation",
    "TokenComparison",
    "TransplantResult",
    "VocabLabError",
    "Vocabulary",
    "align_text",
    "bits_per_byte",
    "compare_numbers",
    "compare_tokenization",
    "compare_vocabularies",
    "distill",
    "draft_fit",
    "generate_ensemble",
    "generate_reduced",
    "load_causal_lm",
    "load_vocabulary",
    "maximal_common_vocabulary",
    "resolve",
    "speculate",
    "transplant",
]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'vocablab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """``vocablab.transplant`` names both the API function and its subpackage; the function wins.

    Importing the subpackage would otherwise overwrite the function with the module."""

    @property
    def transplant(self):
        return __getattr__("transplant")

    @transplant.setter
    def transplant(self, subpackage) -> None:
        pass  # the subpackage stays reachable as sys.modules["vocablab.transplant"]


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:
    from vocablab.align.distill import DistillResult, distill
    from vocablab.align.engine import AlignResult, align_text
    from vocablab.compare import TokenComparison, compare_tokenization, compare_vocabularies, maximal_common_vocabulary
    from vocablab.errors import VocabLabError
    from vocablab.evaluate import BitsPerByte, bits_per_byte
    from vocablab.numbers import NumberComparison, compare_numbers
    from vocablab.options import Decoding
    from vocablab.reduce.draft_fit import DraftFit, draft_fit
    from vocablab.reduce.generate import Generation, generate_ensemble, generate_reduced
    from vocablab.reduce.speculate import Speculation, speculate
    from vocablab.sources import Source, load_causal_lm, load_vocabulary, resolve
    from vocablab.transplant.engine import TransplantResult, transplant
    from vocablab.vocab import Vocabulary
