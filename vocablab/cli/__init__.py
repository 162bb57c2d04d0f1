"""The `vocablab` command line: one small function per command over the library.

vocablab compare smollm2-135m gemma3-270m --text "12,345 apples" [--json]
vocablab transplant --base gemma3-270m --donor smollm2-135m --out out/gemma-smoltok
vocablab presets [--fetch NAME ... | --fetch-all]

Long work shows tqdm progress bars on stderr when it is a terminal.

Each command is a module of this package with its ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args)``; :data:`COMMANDS` lists them in the order ``--help`` shows them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from vocablab import __version__
from vocablab.cli import (
    align,
    before_after,
    common,
    compare,
    decode,
    distill,
    draft_fit,
    ensemble,
    evaluate,
    generate,
    numbers,
    presets,
    probe,
    side_by_side,
    speculate,
    transplant,
)
from vocablab.errors import VocabLabError

COMMANDS = (
    compare,
    decode,
    numbers,
    transplant,
    evaluate,
    probe,
    before_after,
    generate,
    ensemble,
    side_by_side,
    speculate,
    draft_fit,
    align,
    distill,
    presets,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser, built from :mod:`vocablab.options` alone: ``--help`` and argument errors load no
    model library (each command imports what it needs when it runs)."""
    parser = common.ExitParser(prog="vocablab", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help=common.VERBOSE_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=common.ExitParser)
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        # -v after the command too; SUPPRESS keeps a -v given before it
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=common.VERBOSE_HELP)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def check_model_count(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    models = getattr(args, "models", None)
    if models is not None:
        low, high = args.min_models, args.max_models
        if len(models) < low or (high is not None and len(models) > high):
            wanted = f"exactly {low}" if low == high else f"at least {low}"
            parser.error(f"{args.command} takes {wanted} models, not {len(models)}")


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status: 0, 2 for bad input (the message on stderr), 130 on Ctrl-C, 141
    when the reader of the output stopped early."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not sys.stderr.isatty():  # piped: no bars, the hub's and transformers' included (read when they load)
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    check_model_count(parser, args)
    try:
        args.run(args)
    except VocabLabError as exc:
        print(f"vocablab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader stopped early (| head): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail
        return 141
    return 0
