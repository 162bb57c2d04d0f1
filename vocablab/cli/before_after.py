"""vocablab before-after: a base model and its transplant on one text."""

from __future__ import annotations

import argparse

from vocablab.cli import common

NAME = "before-after"
HELP = "a base model and its transplant on one text: bits per byte and a greedy continuation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="the base model")
    parser.add_argument("transplanted", help="the transplanted model folder")
    common.add_text_input(parser, "to score whole, as one document (eval reads a file as one document per line)")
    parser.add_argument("--prompt", default="The capital of France is", help="prompt to continue greedily")
    common.add_run_options(parser, device=True, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.evaluate import compare_before_after

    text = common.text(args)
    result = compare_before_after(
        args.base, args.transplanted, text, args.prompt, device=args.device, trust_remote_code=args.trust_remote_code
    )
    warnings = [f"warning: {warning}" for warning in result.warnings]
    common.emit(args, result.to_dict(), result.lines(args.prompt), warnings)
