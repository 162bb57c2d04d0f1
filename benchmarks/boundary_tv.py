"""How far pruning at the prompt's end takes the reduced model from its exact law, and what it saves.

    python benchmarks/boundary_tv.py [--model smollm2-135m] [--settings default,4:1e-2,16:1e-4,exact-heal]

For each of a fixed set of prompts (a third or more not ASCII), the prompt is split where
generation splits it (its tokens up to the last boundary later text cannot move, and the tail after
it), the cover over bytes is conditioned on the tail, and two next-byte distributions are taken:
the first, and the one after the byte exact mode finds likeliest. Exact mode (no K, no pruning) is
the reference; each setting is K = 300 with the cover's default beam and min_weight, and at the
prompt's end the beam and min_weight given as ``BEAM:MIN_WEIGHT[:K]``, the paths closed at the
tail's end keeping K next tokens (all if not given; ``default``: the library's HEAL_BEAM,
HEAL_MIN_WEIGHT and HEAL_K; ``exact-heal``: no pruning at the prompt's end). Prints, per prompt,
the total variation from exact of both distributions under the default, the mass pruning dropped
(bits, as ``Generation.pruned_bits``), forward passes and seconds; then one summary line per
setting. Greedy-free: nothing is sampled. Run with PYTHONPATH at an older checkout to measure its
``condition`` (a ``ReducedModel`` without heal settings gets the default row only).
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
import time

import torch

from vocablab.options import COVER_BEAM, COVER_MIN_WEIGHT, HEAL_BEAM, HEAL_K, HEAL_MIN_WEIGHT, LVR_K
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.model import HFTokenModel
from vocablab.reduce.prompt import split_prompt
from vocablab.reduce.subvocab import bytes_only
from vocablab.sources import load_causal_lm, load_vocabulary

PROMPTS = [
    # the eight of issue 32
    "naïve caf",
    "日本の首都は",
    "Hello,  ",
    "def fib(n):\n    ",
    "The capital of France is",
    "The capital of France is ",
    "The capital of Fran",
    "In 2024, the price was $1,2",
    # more text that is not ASCII: accents, CJK, emoji, Cyrillic, Greek, Arabic
    "Ich möchte ein Stück Kä",
    "Crème brûl",
    "¿Dónde está la bibliot",
    "今天天气很好，我们去",
    "東京は、日本の首",
    "Привет, как де",
    "Москва — сто",
    "I love pizza 🍕",
    "Good night 🌙",
    "Το όνομά μου είναι Γιά",
    "مرحبا بك في",
    # more ASCII: code, numbers, plain text
    "for i in range(1",
    "Once upon a ti",
    "The quick brown fox jumps ov",
    "x = [1, 2, 3]\nprint(x[",
    "https://www.exam",
]


def settings_from(text: str) -> dict[str, dict]:
    """Pruning at the prompt's end per setting label (``heal_beam``/``heal_min_weight``)."""
    out = {}
    for label in text.split(","):
        if label == "default":
            out[label] = {"heal_beam": HEAL_BEAM, "heal_min_weight": HEAL_MIN_WEIGHT, "heal_k": HEAL_K}
        elif label == "exact-heal":
            out[label] = {"heal_beam": None, "heal_min_weight": 0.0, "heal_k": None}
        else:
            beam, weight, k = (label.split(":") + ["all"])[:3]
            k = None if k == "all" else int(k)
            out[label] = {"heal_beam": int(beam), "heal_min_weight": float(weight), "heal_k": k}
    return out


def two_laws(lm, sub, split, chosen: int | None, **pruning) -> tuple:
    """The first next-byte distribution, the one after ``chosen`` (None: its own likeliest byte),
    the reduced model, the seconds it all took, ``chosen``, and the bound on the distance from exact
    the model reports for each of the two (``ReducedModel.tv_bound``; 0 for an older checkout)."""
    started = time.perf_counter()
    reduced = ReducedModel(lm, sub, split.ids, **pruning)
    reduced.condition(split.tail)
    first = reduced.distribution().exp()
    bounds = [getattr(reduced, "tv_bound", 0.0)]
    if chosen is None:
        chosen = int(first.masked_fill(torch.tensor([s.data is None for s in sub.symbols]), 0).argmax())
    reduced.ready(chosen)
    reduced.advance(chosen)
    second = reduced.distribution().exp()
    bounds.append(getattr(reduced, "tv_bound", 0.0))
    return first, second, reduced, time.perf_counter() - started, chosen, bounds


def distance(p: torch.Tensor, q: torch.Tensor) -> float:
    return 0.5 * (p - q).abs().sum().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument(
        "--settings", default="default", help="comma-separated: default, exact-heal, BEAM:MIN_WEIGHT[:K]"
    )
    parser.add_argument("--prompts", default=":", help="a slice START:END of the prompt list, to split a run")
    parser.add_argument("--no-exact", action="store_true", help="time the settings only (no distances)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    has_heal = "heal_beam" in inspect.signature(ReducedModel).parameters
    settings = settings_from(args.settings) if has_heal else {"default": {}}
    vocab, model = load_vocabulary(args.model), load_causal_lm(args.model, device="cpu")
    lm, sub = HFTokenModel(model), bytes_only(vocab)
    lm.start([0])  # the first forward pass is slower: not in any row
    rows = {label: [] for label in settings}
    start, _, end = args.prompts.partition(":")
    for prompt in PROMPTS[int(start or 0) : int(end or len(PROMPTS))]:
        split = split_prompt(vocab, prompt)
        exact_first = exact_second = chosen = None
        exact_s = math.nan
        if not args.no_exact:
            exact_first, exact_second, _, exact_s, chosen, _ = two_laws(lm, sub, split, None, k=None)
        for label, heal in settings.items():
            first, second, reduced, seconds, _, bounds = two_laws(
                lm, sub, split, chosen, k=LVR_K, beam=COVER_BEAM, min_weight=COVER_MIN_WEIGHT, **heal
            )
            tv = (
                (distance(first, exact_first), distance(second, exact_second))
                if chosen is not None
                else (math.nan,) * 2
            )
            pruned = -reduced.log_kept / math.log(2)
            rows[label].append((prompt, split.tail, *tv, *bounds, pruned, reduced.forward_passes, seconds, exact_s))
            print(f"{prompt!r} {label}: {rows[label][-1][2:]}", file=sys.stderr, flush=True)
    first_label = next(iter(settings))
    settings_line = f"K = {LVR_K}, cover beam {COVER_BEAM} within {COVER_MIN_WEIGHT}"
    print(f"{args.model}, over bytes, {settings_line}; at the prompt's end")
    print(f"{first_label}; exact mode is the reference\n")
    columns = "TV 1st byte | TV 2nd byte | bound 1st | bound 2nd | pruned (bits) | passes | s | exact s"
    print(f"| prompt | tail (bytes) | {columns} |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for prompt, tail, tv1, tv2, bound1, bound2, pruned, passes, seconds, exact_s in rows[first_label]:
        shown = prompt.replace("\n", "\\n").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        cells = f"{tv1:.2g} | {tv2:.2g} | {bound1:.2g} | {bound2:.2g} | {pruned:.2g} | {passes} | {seconds:.2f}"
        cells += f" | {exact_s:.2f}"
        print(f"| `{shown}` | {len(tail)} | {cells} |")
    print("\n| setting at the prompt's end | max TV 1st | max TV 2nd | mean TV 1st | bound holds | passes | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, table in rows.items():
        tv1, tv2 = [r[2] for r in table], [r[3] for r in table]
        holds = sum(r[2] <= r[4] + 1e-5 and r[3] <= r[5] + 1e-5 for r in table)
        passes, seconds = sum(r[7] for r in table), sum(r[8] for r in table)
        summary = f"{max(tv1):.2g} | {max(tv2):.2g} | {sum(tv1) / len(tv1):.2g} | {holds}/{len(table)}"
        print(f"| {label} | {summary} | {passes} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
