"""vocablab decode: token ids back to text, by each tokenizer named."""

from __future__ import annotations

import argparse

from vocablab.cli import common

NAME = "decode"
HELP = "decode a list of token ids to text with each tokenizer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_models(parser, 1)
    parser.add_argument(
        "--ids", required=True, help='the ids: "[128000, 791, 6864]" (brackets optional; commas or spaces between)'
    )
    common.add_run_options(parser, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.playground import decode_ids, parse_ids

    ids = parse_ids(args.ids)
    decoded = [decode_ids(vocab, ids) for vocab in common.vocabularies(args.models, args.trust_remote_code)]
    lines = [line for d in decoded for line in (f"== {d.name}:", d.text)]
    common.emit(args, {"ids": ids, "decoded": [d.to_dict() for d in decoded]}, lines)
