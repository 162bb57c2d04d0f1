"""vocablab draft-fit: how well drafts fit a target for speculative decoding."""

from __future__ import annotations

import argparse

from vocablab import options
from vocablab.cli import common

NAME = "draft-fit"
HELP = "how well drafts fit a target: acceptance alpha along a text and the expected speed-up per gamma"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_models(parser, 2)
    parser.add_argument("--text", required=True, help=common.TEXT_FILE_HELP)
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=options.DRAFT_FIT_BYTES,
        help=f"score along the first N bytes (default {options.DRAFT_FIT_BYTES})",
    )
    common.add_space(parser)
    common.add_run_options(parser, device=True, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.reduce.draft_fit import draft_fit

    text = "\n".join(common.read_text_file(common.text_path(args.text)).splitlines())
    result = draft_fit(
        args.models[0],
        args.models[1:],
        text,
        space=args.space,
        max_bytes=args.max_bytes,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
    )
    common.emit(args, result.to_dict(), result.lines(), ensure_ascii=True)
