"""vocablab eval: bits per byte of a model, a reduced model, or an ensemble, on a text file."""

from __future__ import annotations

import argparse

from vocablab import options
from vocablab.cli import common
from vocablab.errors import VocabLabError

NAME = "eval"
HELP = (
    "bits per byte on a text file (one document per line): a model, a model reduced "
    "to a sub-vocabulary, or an ensemble of several models"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_models(parser, 1)
    parser.add_argument("--text", required=True, help=common.TEXT_FILE_HELP)
    parser.add_argument("--limit", type=int, help="score only the first N documents")
    parser.add_argument("--subvocab", help=f"score one model reduced to {options.SUBVOCAB_SPEC}")
    # no default: --space means an ensemble (the default space of one is mcv)
    parser.add_argument("--space", choices=options.SPACES, help="ensemble space (default mcv)")
    common.add_mcv_rule(parser)
    parser.add_argument("--weights", type=common.weights, help="ensemble weights, e.g. 0.5,0.5 (default uniform)")
    common.add_run_options(parser, device=True, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.evaluate import bits_per_byte, read_documents

    if len(args.models) == 1 and (args.space or args.weights):
        raise VocabLabError("--space and --weights score an ensemble: give two or more models")
    documents = read_documents(common.text_path(args.text), limit=args.limit)
    if len(args.models) > 1:
        from vocablab.reduce.score import ensemble_bits_per_byte

        if args.subvocab:
            raise VocabLabError("--subvocab scores one model; an ensemble of several uses --space mcv|bytes")
        result = ensemble_bits_per_byte(
            args.models,
            documents,
            space=args.space or "mcv",
            mcv_rule=args.mcv_rule,
            weights=args.weights,
            device=args.device,
        )
    elif args.subvocab:
        from vocablab.reduce.score import reduced_bits_per_byte

        result = reduced_bits_per_byte(
            args.models[0], documents, subvocab=args.subvocab, mcv_rule=args.mcv_rule, device=args.device
        )
    else:
        result = bits_per_byte(args.models[0], documents, device=args.device, trust_remote_code=args.trust_remote_code)
    common.emit(args, result.to_dict(), result.lines(), ensure_ascii=True)
