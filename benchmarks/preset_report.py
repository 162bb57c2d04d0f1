"""Facts about every built-in preset tokenizer, detected from behaviour.

    python benchmarks/preset_report.py

Prints, per preset: ids, text tokens, special tokens, whether a dummy-prefix space is added, and
the digit scheme; then the overlap of the two default models (by string, by bytes, MCV).
"""

from __future__ import annotations

import time

from vocablab.numbers import detect_digit_scheme
from vocablab.presets import DEFAULT_MODELS, preset_names
from vocablab.sources import load_vocabulary
from vocablab.vocab import compare_vocabularies


def main() -> None:
    print("| preset | ids | text tokens | special | dummy prefix | digit scheme |")
    print("|---|---|---|---|---|---|")
    for name in preset_names():
        vocab = load_vocabulary(name)
        scheme = detect_digit_scheme(vocab)
        print(
            f"| `{name}` | {len(vocab):,} | {len(vocab.text_ids):,} | {len(vocab.special_ids):,} | "
            f"{'yes' if vocab.dummy_prefix else 'no'} | {scheme.description} |"
        )
    start = time.perf_counter()
    pair = compare_vocabularies([load_vocabulary(n) for n in DEFAULT_MODELS]).pairs[0]
    print(
        f"\n{pair.a} vs {pair.b}: shared by string {pair.shared_by_string:,}, by bytes "
        f"{pair.shared_by_bytes:,}, only in {pair.a} {pair.only_a_by_bytes:,}, only in {pair.b} "
        f"{pair.only_b_by_bytes:,}, MCV {pair.mcv_size:,} ({time.perf_counter() - start:.1f} s)"
    )


if __name__ == "__main__":
    main()
