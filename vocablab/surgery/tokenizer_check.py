"""Whether transformers' AutoTokenizer loads a transplanted model's tokenizer as the donor's.

The output folder holds the donor's tokenizer files byte for byte beside the base's config.json.
transformers 5 picks the tokenizer class from config.json's model_type for a few model types (qwen2,
qwen3_5, ...) whatever tokenizer_config.json names, and those classes rebuild the tokenizer from its
vocabulary and merges with their own normalizer and pre-tokenizer: a Qwen2 base given a Llama 3
tokenizer then loads, through AutoTokenizer, a tokenizer that splits digits one by one, composes
accents (NFC) and adds ``<|endoftext|>`` past the embedding rows. No file in the folder can change
that choice, so the transplant says so and names a loader that reads tokenizer.json as is
(vocablab's own loader does, see ``vocablab.sources``).
"""

from __future__ import annotations

from pathlib import Path

# texts on which tokenizer pipelines differ: digit runs, a decomposed accent, runs of spaces and newlines
PROBES = ("In 2024, 12345 naïve cafe\u0301s.", "  x\n\n\ty  ", "日本の首都は東京です。")


def autotokenizer_warning(folder: Path, donor_tokenizer) -> str | None:
    """A warning when ``AutoTokenizer.from_pretrained(folder)`` differs from ``donor_tokenizer``
    (the donor as vocablab loaded it) in its vocabulary or its ids for the probe texts, else None."""
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(folder)
    extra = sorted(set(loaded.get_vocab()) - set(donor_tokenizer.get_vocab()))
    differs = next(
        (t for t in PROBES if _ids(loaded, t) != _ids(donor_tokenizer, t)),
        None,
    )
    if not extra and differs is None and len(loaded) == len(donor_tokenizer):
        return None
    found = []
    if differs is not None:
        found.append(f"encodes {differs!r} as {_ids(loaded, differs)}, not {_ids(donor_tokenizer, differs)}")
    if extra:
        found.append(f"adds {', '.join(extra[:3])} (ids past the model's rows)")
    return (
        f"transformers' AutoTokenizer loads this model's tokenizer as {type(loaded).__name__}, chosen by the "
        f"base's model type whatever tokenizer_config.json says, and it {' and '.join(found)}; the folder's "
        f"tokenizer.json is the donor's: load it with transformers.PreTrainedTokenizerFast.from_pretrained"
        f"({str(folder)!r}) (vocablab does)"
    )


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]
