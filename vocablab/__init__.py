"""vocablab: look inside LLM vocabularies and make models with different tokenizers work together.

The public API, one function per capability (each docstring has a short example that CI runs):

- :func:`compare_tokenization`, :func:`compare_numbers`: the same text tokenized side by side, the
  overlap of vocabularies by bytes, and how tokenizers split numbers;
- :func:`decode_ids`, :func:`chat_prompt`: token ids back to text, and chat prompts by each
  tokenizer's own template;
- :func:`transplant`: give a base model a donor's tokenizer without training (OMP);
- :func:`generate_reduced`, :func:`generate_ensemble`: lossless vocabulary reduction, and ensembles
  of models with different tokenizers;
- :func:`speculate`, :func:`draft_fit`: speculative decoding with a draft of another tokenizer, and
  how well a draft fits a target before anything runs;
- :func:`align_text`, :func:`distill`: ULD and transport plans between two models' next-token
  distributions, and cross-tokenizer distillation;
- :func:`bits_per_byte`: compare models across tokenizers per byte of text.

Models are named as presets (``"smollm2-135m"``), hub ids (``"org/name@rev"``), local folders or
``.gguf`` files. Importing vocablab is cheap: each name loads its module (and torch) on first use
(``import vocablab`` takes about 0.2 s; loading every module, about 12 s on 2 busy cores). The
transplant's own modules are in :mod:`vocablab.surgery`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

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

# The public API, by the module that defines it: the one list of names (``__all__`` is made from it).
_PUBLIC = {
    "vocablab.compare": [
        "TokenComparison",
        "compare_tokenization",
        "compare_vocabularies",
        "maximal_common_vocabulary",
    ],
    "vocablab.playground": ["DecodedIds", "decode_ids", "format_ids", "parse_ids"],
    "vocablab.chat": ["ChatPrompt", "chat_prompt", "parse_messages"],
    "vocablab.numbers": ["NumberComparison", "compare_numbers"],
    "vocablab.surgery.engine": ["TransplantResult", "transplant"],
    "vocablab.reduce.generate": ["Generation", "generate_ensemble", "generate_reduced"],
    "vocablab.reduce.speculate": ["Speculation", "speculate"],
    "vocablab.reduce.draft_fit": ["DraftFit", "draft_fit"],
    "vocablab.align.engine": ["AlignResult", "align_text"],
    "vocablab.align.distill": ["DistillResult", "distill"],
    "vocablab.evaluate": ["BitsPerByte", "bits_per_byte"],
    "vocablab.options": ["Decoding"],
    "vocablab.errors": ["VocabLabError"],
    "vocablab.sources": ["Source", "load_causal_lm", "load_vocabulary", "resolve"],
    "vocablab.vocab": ["Vocabulary"],
}
_HOME = {name: module for module, names in _PUBLIC.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    """A public name's module is imported on first use (most pull in torch and transformers)."""
    if name not in _HOME:
        raise AttributeError(f"module 'vocablab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
