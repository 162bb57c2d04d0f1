"""vocablab: look inside LLM vocabularies and make models with different tokenizers work together."""

from vocablab.errors import VocabLabError
from vocablab.sources import Source, load_causal_lm, load_vocabulary, resolve
from vocablab.vocab import Vocabulary, compare_vocabularies, maximal_common_vocabulary

__all__ = [
    "Source",
    "VocabLabError",
    "Vocabulary",
    "compare_vocabularies",
    "load_causal_lm",
    "load_vocabulary",
    "maximal_common_vocabulary",
    "resolve",
]
