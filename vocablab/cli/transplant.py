"""vocablab transplant: give a base model a donor's tokenizer."""

from __future__ import annotations

import argparse

from vocablab import options
from vocablab.cli import common
from vocablab.errors import VocabLabError

NAME = "transplant"
HELP = "give a base model a donor's tokenizer (OMP, no training)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, help="the model whose weights are kept")
    parser.add_argument("--donor", required=True, help="the model whose tokenizer the result gets")
    parser.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    parser.add_argument("--k", type=int, help=f"anchors per new token, omp and knn (default {options.TRANSPLANT_K})")
    parser.add_argument(
        "--method",
        choices=options.METHODS,
        default=options.TRANSPLANT_METHOD,
        help=common.choices_help(options.METHOD_HELP),
    )
    parser.add_argument(
        "--match",
        choices=options.MATCH_MODES,
        default=options.TRANSPLANT_MATCH,
        help=common.choices_help(options.MATCH_HELP),
    )
    parser.add_argument(
        "--dtype",
        choices=options.OUTPUT_DTYPES,
        default="auto",
        help="dtype of the written weights: " + common.choices_help(options.OUTPUT_DTYPE_HELP),
    )
    parser.add_argument("--overwrite", action="store_true", help=common.OVERWRITE_HELP)
    common.add_run_options(parser, device=True, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.surgery import transplant

    if args.k is not None and args.method not in options.ANCHOR_METHODS:
        raise VocabLabError(f"--k sets the anchors of the omp and knn methods; the {args.method} method uses none")
    result = transplant(
        args.base,
        args.donor,
        args.out,
        k=options.TRANSPLANT_K if args.k is None else args.k,
        method=args.method,
        match=args.match,
        dtype=args.dtype,
        device=args.device,
        overwrite=args.overwrite,
        trust_remote_code=args.trust_remote_code,
    )
    common.emit(args, result.to_dict(), result.lines(), ensure_ascii=True)
