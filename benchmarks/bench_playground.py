"""Time the tokenizer view's playground handlers, in-process: the as-you-type update against the
button's full view, the two special-token switches, and the chat-template builder.

    python benchmarks/bench_playground.py [--chars 200 5000] [--repeats 7]

Each figure is a median over ``--repeats`` calls of the app's own handler with the four tokenizers
loaded and their overlap cached (what every call after a visitor's first pays); the one-time cost of
the specials-as-text copy of each tokenizer is printed apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench_tokenizer_view import PARAGRAPH, TOKENIZERS

from vocablab.chat import EXAMPLE_MESSAGES
from vocablab.compare import _specials_as_text
from vocablab.sources import load_vocabulary
from vocablab.ui.tokenizers_tab import chat_view, tokenize_as_typed, tokenize_side_by_side


def medians_ms(calls: dict, repeats: int) -> dict:
    """The median time of each call, the calls taken in turn (a load that comes and goes on a shared
    machine falls on each alike)."""
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, nargs="+", default=[200, 5000])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    vocabs = [load_vocabulary(name) for name in TOKENIZERS]
    for vocab in vocabs:
        start = time.perf_counter()
        _specials_as_text(vocab)
        print(f"specials-as-text copy of {vocab.name}: {time.perf_counter() - start:.2f} s (once per tokenizer)")
    quiet = lambda *a, **k: None  # noqa: E731 - no progress bar outside the app
    for chars in args.chars:
        text = (PARAGRAPH * (chars // len(PARAGRAPH) + 1))[:chars]
        tokenize_side_by_side(text, False, *TOKENIZERS, "shared", None, progress=quiet)  # overlap now cached
        ms = medians_ms(
            {
                "button (full view)": lambda t=text: tokenize_side_by_side(
                    t, False, *TOKENIZERS, "shared", None, progress=quiet
                ),
                "as typed": lambda t=text: tokenize_as_typed(t, False, *TOKENIZERS, False, True, None),
                "as typed, BOS added": lambda t=text: tokenize_as_typed(t, False, *TOKENIZERS, True, True, None),
                "as typed, specials split": lambda t=text: tokenize_as_typed(t, False, *TOKENIZERS, False, False, None),
            },
            args.repeats,
        )
        ratio = ms["button (full view)"] / ms["as typed"]
        print(f"{chars:,} characters, 4 tokenizers: " + "; ".join(f"{k} {v:.0f} ms" for k, v in ms.items()))
        print(f"  the button's view takes {ratio:.1f}x the as-typed update")
    messages = json.dumps(EXAMPLE_MESSAGES)
    chat = medians_ms({"chat": lambda: chat_view(messages, True, False, *TOKENIZERS, None)}, args.repeats)["chat"]
    print(f"chat templates of the 4 tokenizers, the example's 4 messages: {chat:.0f} ms")


if __name__ == "__main__":
    main()
