"""Time the tokenizer view for 5,000 characters and 4 tokenizers.

    python benchmarks/bench_tokenizer_view.py [--chars 5000] [--repeats 5]

Prints the time to load the tokenizers, the first comparison (which also computes the
vocabulary overlap and the maximal common vocabulary of every pair, then cached), and the
median of later comparisons (tokenize + boundaries + HTML), as the web view does them.
"""

from __future__ import annotations

import argparse
import statistics
import time

from vocablab.compare import compare_tokenization
from vocablab.sources import load_vocabulary
from vocablab.ui.token_html import render_comparison

TOKENIZERS = ["smollm2-135m", "gemma3-270m", "llama3", "qwen3"]
PARAGRAPH = (
    "On 2024-03-15 the committee approved a budget of $1,234,567.89, up 12.5% from last year. "
    "Les élèves ont lu 42 pages; 東京の人口は約1,400万人です。 Emoji: 🙂🚀. "
    "def f(x):\n    return x ** 2 + 3.14159\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    text = (PARAGRAPH * (args.chars // len(PARAGRAPH) + 1))[: args.chars]

    start = time.perf_counter()
    vocabs = [load_vocabulary(name) for name in TOKENIZERS]
    load_s = time.perf_counter() - start

    start = time.perf_counter()
    result = compare_tokenization(vocabs, text)
    render_comparison(result)
    first_s = time.perf_counter() - start

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        render_comparison(compare_tokenization(vocabs, text), show_ids=True)
        times.append(time.perf_counter() - start)

    print(f"text: {len(text):,} characters, {len(text.encode()):,} bytes; tokenizers: {', '.join(TOKENIZERS)}")
    print(f"tokens: {', '.join(f'{t.name}={t.n_tokens}' for t in result.tokenized)}")
    print(f"load tokenizers (cached presets): {load_s:.2f} s")
    print(f"first view (incl. overlap + MCV of 6 pairs): {first_s:.2f} s")
    print(f"later views, median of {args.repeats}: {statistics.median(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
