"""vocablab presets: list the built-in presets and fetch them into the cache."""

from __future__ import annotations

import argparse

NAME = "presets"
HELP = "list the built-in presets and fetch them into the cache"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--fetch", nargs="+", default=[], metavar="NAME", help="fetch these presets")
    group.add_argument("--fetch-all", action="store_true", help="fetch every preset")


def run(args: argparse.Namespace) -> None:
    from vocablab.presets import MODEL_PRESETS, TOKENIZER_PRESETS, ensure_preset, is_cached, unavailable_reason

    names = [*MODEL_PRESETS, *TOKENIZER_PRESETS] if args.fetch_all else args.fetch
    for name in names:
        print(f"{name}: {ensure_preset(name)}")
    for name in [*MODEL_PRESETS, *TOKENIZER_PRESETS]:
        reason = unavailable_reason(name)
        state = "cached" if is_cached(name) else (f"unavailable: {reason}" if reason else "not fetched yet")
        print(f"{name:14s} {state}")
