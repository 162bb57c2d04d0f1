"""vocablab distill: train a student on a teacher's next-token distributions (cross-entropy + ULD)."""

from __future__ import annotations

import argparse

from vocablab import options
from vocablab.cli import common

NAME = "distill"
HELP = "train a student on a teacher's next-token distributions (CE + ULD)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--student", required=True)
    parser.add_argument(
        "--text",
        required=True,
        help="training text: a UTF-8 file (one document per line) or the text preset lee_background",
    )
    parser.add_argument("--limit", type=int, help="use only the first N documents")
    parser.add_argument("--steps", type=int, required=True, help="training steps, one document each")
    parser.add_argument(
        "--uld-weight",
        type=float,
        default=options.ULD_WEIGHT,
        help=f"weight of the ULD term (default {options.ULD_WEIGHT:g})",
    )
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument(
        "--lr", type=float, default=options.DISTILL_LR, help=f"AdamW learning rate (default {options.DISTILL_LR:g})"
    )
    parser.add_argument(
        "--alignment", choices=options.ALIGNMENTS, default="bytes", help=common.choices_help(options.ALIGNMENT_HELP)
    )
    parser.add_argument("--out", help="save the student here (a safetensors model folder)")
    parser.add_argument("--overwrite", action="store_true", help=common.OVERWRITE_HELP)
    common.add_run_options(parser, device=True, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.align.distill import distill

    settings = options.DistillSettings(
        args.steps, args.uld_weight, args.temperature, args.lr, args.alignment, limit=args.limit
    )
    result = distill(
        args.teacher,
        args.student,
        common.text_path(args.text),
        settings,
        out=args.out,
        device=args.device,
        overwrite=args.overwrite,
        trust_remote_code=args.trust_remote_code,
    )
    common.emit(args, result.to_dict(), result.lines(), ensure_ascii=True)
