"""vocablab ensemble: generate with an ensemble of models whose tokenizers differ."""

from __future__ import annotations

import argparse

from vocablab.cli import common
from vocablab.cli.generation import print_generation

NAME = "ensemble"
HELP = "generate with an ensemble of models with different tokenizers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_models(parser, 2)
    common.add_space(parser)
    common.add_mcv_rule(parser)
    parser.add_argument("--weights", type=common.weights, help="one weight per model, e.g. 0.5,0.5 (default uniform)")
    common.add_decoding_arguments(parser)


def run(args: argparse.Namespace) -> None:
    from vocablab.reduce.generate import generate_ensemble

    result = generate_ensemble(
        args.models,
        args.prompt,
        space=args.space,
        mcv_rule=args.mcv_rule,
        weights=args.weights,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
        decoding=common.decoding(args),
    )
    print_generation(args, result)
