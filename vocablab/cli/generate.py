"""vocablab generate: generate with one model over a sub-vocabulary (lossless vocabulary reduction)."""

from __future__ import annotations

import argparse

from vocablab import options
from vocablab.cli import common
from vocablab.cli.generation import print_generation

NAME = "generate"
HELP = "generate over a sub-vocabulary (lossless vocabulary reduction)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model")
    parser.add_argument("--subvocab", default="bytes", help=f"{options.SUBVOCAB_SPEC} (default %(default)s)")
    common.add_mcv_rule(parser)
    common.add_decoding_arguments(parser)


def run(args: argparse.Namespace) -> None:
    from vocablab.reduce.generate import generate_reduced

    result = generate_reduced(
        args.model,
        args.prompt,
        subvocab=args.subvocab,
        mcv_rule=args.mcv_rule,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
        decoding=common.decoding(args),
    )
    print_generation(args, result)
