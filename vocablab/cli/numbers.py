"""vocablab numbers: how two tokenizers split numbers."""

from __future__ import annotations

import argparse

from vocablab.cli import common

NAME = "numbers"
HELP = "how two tokenizers split numbers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_models(parser, 2, 2)
    common.add_run_options(parser, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.numbers import compare_numbers

    a, b = common.vocabularies(args.models, args.trust_remote_code)
    result = compare_numbers(a, b)
    common.emit(args, result.to_dict(), result.lines())
