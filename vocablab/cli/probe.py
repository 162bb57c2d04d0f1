"""vocablab probe: models (each with its own tokenizer) on a corpus and on the digit probe."""

from __future__ import annotations

import argparse

from vocablab import options
from vocablab.cli import common

NAME = "probe"
HELP = (
    "bits per byte on a corpus and a digit probe (arithmetic, years, counting) for one or more models, "
    "each with its own tokenizer: a transplant beside its base"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_models(parser, 1)
    corpus = parser.add_mutually_exclusive_group()
    corpus.add_argument(
        "--corpus",
        default=options.CORPUS,
        help="a text preset or a UTF-8 file, one document a line (default %(default)s)",
    )
    corpus.add_argument("--no-corpus", action="store_true", help="the digit probe alone")
    parser.add_argument(
        "--documents",
        type=int,
        default=options.CORPUS_DOCUMENTS,
        help="score the corpus's first N documents (default %(default)s; more for a steadier figure)",
    )
    digits = parser.add_mutually_exclusive_group()
    digits.add_argument("--probes", help="a UTF-8 file of probes, one a line: prompt<TAB>answer (default: built in)")
    digits.add_argument("--no-digits", action="store_true", help="the corpus score alone")
    common.add_run_options(parser, device=True, remote_code=True)


def run(args: argparse.Namespace) -> None:
    from vocablab.digit_probe import DIGIT_PROBES, read_probes
    from vocablab.scorecard import score_models, scorecard_lines

    probes = None if args.no_digits else read_probes(args.probes) if args.probes else DIGIT_PROBES
    cards = score_models(
        args.models,
        corpus=None if args.no_corpus else args.corpus,
        documents=args.documents,
        probes=probes,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
    )
    common.emit(args, {"models": [card.to_dict() for card in cards]}, scorecard_lines(cards), ensure_ascii=True)
