"""vocablab compare: tokenize a text side by side and compare the vocabularies."""

from __future__ import annotations

import argparse

from vocablab import options
from vocablab.cli import common

NAME = "compare"
HELP = "tokenize a text side by side and compare vocabularies"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_models(parser, 2)
    common.add_text_input(parser, f"up to {options.MAX_TEXT_CHARS:,} characters")
    common.add_mcv_rule(parser)
    common.add_run_options(parser, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.compare import compare_tokenization

    text = common.text(args)
    vocabs = common.vocabularies(args.models, args.trust_remote_code)
    result = compare_tokenization(vocabs, text, mcv_rule=args.mcv_rule)
    common.emit(args, result.to_dict(), result.lines())
