"""vocablab side-by-side: the app's generation view, six generations from one prompt."""

from __future__ import annotations

import argparse

from vocablab import options
from vocablab.cli import common
from vocablab.cli.generation import side_by_side_lines

NAME = "side-by-side"
HELP = (
    "six generations from one prompt: A and B as is and reduced, and their MCV "
    "and byte ensembles (the app's generation view)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_models(parser, 2, 2)
    parser.add_argument(
        "--subvocab", default="mcv", help="mcv (with the other model) | bytes | maxlen:N (default %(default)s)"
    )
    parser.add_argument(
        "--weight-a",
        type=float,
        default=options.SIDE_BY_SIDE_WEIGHT_A,
        help="ensemble weight of model A (default %(default)s)",
    )
    common.add_decoding_arguments(parser)


def run(args: argparse.Namespace) -> None:
    from vocablab.reduce.generate import generate_side_by_side

    results = generate_side_by_side(
        args.models[0],
        args.models[1],
        args.prompt,
        subvocab=args.subvocab,
        decoding=common.decoding(args),
        weight_a=args.weight_a,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
    )
    data = {title: r.to_dict() for title, r in results.items()}
    common.emit(args, data, side_by_side_lines(args, results))
