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
    parser.add_argument(
        "--add-special-tokens",
        action="store_true",
        help="add each tokenizer's own special tokens (BOS/EOS) as a model is fed; without it, the text alone",
    )
    parser.add_argument(
        "--split-special-tokens",
        action="store_true",
        help='read special tokens written in the text ("<|im_start|>") as plain text; without it, each is one token',
    )
    common.add_run_options(parser, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.compare import compare_tokenization

    text = common.text(args)
    vocabs = common.vocabularies(args.models, args.trust_remote_code)
    result = compare_tokenization(
        vocabs,
        text,
        mcv_rule=args.mcv_rule,
        add_special_tokens=args.add_special_tokens,
        parse_special_tokens=not args.split_special_tokens,
    )
    common.emit(args, result.to_dict(), result.lines())
