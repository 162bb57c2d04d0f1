"""vocablab align: pair two models' next-token distributions on a text (ULD and transport plans)."""

from __future__ import annotations

import argparse

from vocablab import options
from vocablab.cli import common
from vocablab.errors import VocabLabError

NAME = "align"
HELP = "pair two models' next-token distributions on a text: ULD and transport plans"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_models(parser, 2, 2)
    common.add_text_input(parser, f"up to {options.MAX_ALIGN_BYTES:,} bytes")
    parser.add_argument("--position", type=int, help="show one paired position (its number in the table) in full")
    parser.add_argument(
        "--top-k",
        type=int,
        default=options.ALIGN_TOP_K,
        help=f"tokens of each distribution in the plans (default {options.ALIGN_TOP_K}, "
        f"at most {options.MAX_ALIGN_TOP_K})",
    )
    parser.add_argument("--cost", choices=options.COSTS, default="edit", help=common.choices_help(options.COST_HELP))
    parser.add_argument(
        "--alignment", choices=options.ALIGNMENTS, default="bytes", help=common.choices_help(options.ALIGNMENT_HELP)
    )
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument(
        "--reg",
        type=float,
        default=options.SINKHORN_REG,
        help=f"Sinkhorn entropic regularization, at least {options.MIN_SINKHORN_REG:g} "
        f"(default {options.SINKHORN_REG:g})",
    )
    parser.add_argument(
        "--transplant",
        help="transplant folder between the two models, for --cost embedding "
        "(default: the newest matching one in the app's workspace)",
    )
    common.add_run_options(parser, device=True, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.align import align_text

    settings = options.AlignSettings(args.top_k, args.cost, args.alignment, args.temperature, args.reg)
    result = align_text(
        args.models[0],
        args.models[1],
        common.text(args),
        settings,
        transplant=args.transplant,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
    )
    count = len(result.positions)
    if args.position is not None and not 0 <= args.position < count:
        raise VocabLabError(f"position {args.position} is not among the {count} paired positions (0 to {count - 1})")
    data = result.to_dict()
    if args.position is not None:  # --json with --position: that position alone
        data["positions"] = [data["positions"][args.position]]
    common.emit(args, data, result.lines(args.position))
