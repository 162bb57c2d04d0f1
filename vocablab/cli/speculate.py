"""vocablab speculate: speculative decoding with a draft whose tokenizer differs from the target's."""

from __future__ import annotations

import argparse

from vocablab import options
from vocablab.cli import common
from vocablab.cli.generation import shown

NAME = "speculate"
HELP = (
    "speculative decoding: a draft with another tokenizer proposes, the target verifies, "
    "both reduced to their MCV or bytes (the target's own law of texts)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help=f"the model whose text it is ({common.MODEL_HELP})")
    parser.add_argument("draft", help="the smaller model that proposes symbols")
    parser.add_argument(
        "--gamma",
        type=int,
        default=options.SPECULATE_GAMMA,
        help=f"symbols drafted per round, 1 to {options.MAX_GAMMA} (default {options.SPECULATE_GAMMA})",
    )
    common.add_space(parser)
    parser.add_argument("--draft-device", choices=options.DEVICES, help="where the draft runs (default: --device)")
    parser.add_argument("--no-alone", action="store_true", help="skip the target alone (run for comparison by default)")
    common.add_decoding_arguments(parser)


def run(args: argparse.Namespace) -> None:
    from vocablab.reduce.speculate import speculate

    result = speculate(
        args.target,
        args.draft,
        args.prompt,
        gamma=args.gamma,
        space=args.space,
        alone=not args.no_alone,
        device=args.device,
        draft_device=args.draft_device,
        trust_remote_code=args.trust_remote_code,
        decoding=common.decoding(args),
    )
    common.emit(args, result.to_dict(), [shown(args, result.data)], result.notes())
