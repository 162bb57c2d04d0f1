"""What several commands share: option groups, the parser that explains its errors, reading text,
building the decoding settings, and printing a result (its lines, or its JSON with --json).

Built from :mod:`vocablab.options` alone: ``--help`` and argument errors load no model library.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable

from vocablab import options
from vocablab.errors import VocabLabError

MODEL_HELP = "presets, hub ids (org/name[@rev]), folders or .gguf files"
OVERWRITE_HELP = "replace the output folder if it is empty or is a model folder vocablab made (never any other folder)"
VERBOSE_HELP = "log what each step does"
TEXT_FILE_HELP = "a UTF-8 file, or the text preset lee_background"
_DECODING = options.Decoding()  # its defaults, quoted in the help


class ExitParser(argparse.ArgumentParser):
    """argparse's parser, with a hint where a value that starts with "-" was read as an option."""

    def error(self, message: str):
        # argparse reads a value that starts with "-" (--weights -1,2; --prompt "- a list") as the next option
        missing = re.fullmatch(r"argument (--[\w-]+): expected one argument", message)
        if missing:
            option = missing.group(1)
            message += f" (a value that starts with '-' goes after '=': {option}=VALUE)"
        super().error(message)


def choices_help(helps: dict[str, str]) -> str:
    return "; ".join(f"{name}: {text}" for name, text in helps.items())


def add_models(parser: argparse.ArgumentParser, low: int, high: int | None = None) -> None:
    """The MODEL arguments; ``main`` checks their number against [low, high] (high None: no limit)."""
    parser.add_argument("models", nargs="+", metavar="MODEL", help=MODEL_HELP)
    parser.set_defaults(min_models=low, max_models=high)


def add_run_options(
    parser: argparse.ArgumentParser, *, json_out: bool = True, device: bool = False, remote_code: bool = False
) -> None:
    if json_out:
        parser.add_argument("--json", action="store_true", help="print JSON")
    if device:
        parser.add_argument(
            "--device", choices=options.DEVICES, default="auto", help="where models run (default %(default)s)"
        )
    if remote_code:
        parser.add_argument("--trust-remote-code", action="store_true", help="allow a model's own Python code")


def add_mcv_rule(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mcv-rule",
        choices=options.MCV_RULES,
        default=options.MCV_RULE,
        help=f"which shared strings the MCV keeps (default {options.MCV_RULE}): " + choices_help(options.MCV_RULE_HELP),
    )


def add_space(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", choices=options.SPACES, default="mcv", help="shared space (default %(default)s)")


def add_text_input(parser: argparse.ArgumentParser, limit: str) -> None:
    text = parser.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help=f"the text ({limit})")
    text.add_argument("--file", help="read the text from a UTF-8 file")


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """--prompt and how the next piece is picked (read back by :func:`decoding`), then the run options."""
    parser.add_argument("--prompt", required=True)
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--k",
        type=int,
        default=options.LVR_K,
        help=f"K-LVR: next tokens kept per cover entry (default {options.LVR_K})",
    )
    size.add_argument("--exact", action="store_true", help="no pruning (slow: the cover can grow quickly)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true", help="greedy decoding (the default)")
    mode.add_argument("--sample", action="store_true", help="sample with --temperature and --top-p")
    # None, not the default, so that decoding() can tell an option given without --sample
    parser.add_argument("--temperature", type=float, help=f"with --sample (default {_DECODING.temperature:g})")
    parser.add_argument("--top-p", type=float, help=f"with --sample (default {_DECODING.top_p:g}: no nucleus cut)")
    parser.add_argument("--seed", type=int, help=f"with --sample (default {_DECODING.seed})")
    parser.add_argument(
        "--max-new-bytes",
        type=int,
        default=_DECODING.max_new_bytes,
        help="stop once this many bytes are generated (default %(default)s; the last token may end past it)",
    )
    parser.add_argument(
        "--chat", action="store_true", help="wrap the prompt in each model's chat template; prints the reply alone"
    )
    parser.add_argument(
        "--no-heal",
        action="store_true",
        help="condition on the prompt's canonical tokens; by default its end is conditioned on as text "
        "(every tokenization that could continue it, from its last boundary later text cannot move)",
    )
    add_run_options(parser, device=True, remote_code=True)


def decoding(args: argparse.Namespace) -> options.Decoding:
    """The one place the decoding options become a :class:`~vocablab.options.Decoding`."""
    sampling = {"--temperature": args.temperature, "--top-p": args.top_p, "--seed": args.seed}
    if not args.sample and (given := [name for name, value in sampling.items() if value is not None]):
        raise VocabLabError(f"{', '.join(given)}: only with --sample (decoding is greedy by default)")
    return options.Decoding(
        k=None if args.exact else args.k,
        greedy=not args.sample,
        temperature=_DECODING.temperature if args.temperature is None else args.temperature,
        top_p=_DECODING.top_p if args.top_p is None else args.top_p,
        seed=args.seed or _DECODING.seed,
        max_new_bytes=args.max_new_bytes,
        chat=args.chat,
        heal=not args.no_heal,
    )


def weights(text: str) -> list[float]:
    """The argparse type of --weights: numbers separated by commas."""
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"weights must be numbers separated by commas, not {text!r}") from None


def vocabularies(specs: list[str], trust_remote_code: bool) -> list:
    from vocablab.sources import load_vocabulary

    return [load_vocabulary(s, trust_remote_code=trust_remote_code) for s in specs]


def text(args: argparse.Namespace) -> str:
    """The text of --text, which must be valid UTF-8 (the shell can pass any bytes), or of --file."""
    if args.text is None:
        return read_text_file(args.file)
    try:
        args.text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise VocabLabError(f"--text is not valid UTF-8 (at character {exc.start}); give the text as UTF-8") from None
    return args.text


def read_text_file(path: str | None) -> str:
    if path is None:
        raise VocabLabError("give --text TEXT or --file PATH")
    try:
        with open(path, encoding="utf-8-sig") as handle:  # -sig: a leading byte-order mark is not text
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabLabError(f"cannot read {path}: {exc}") from exc


def text_path(spec: str):
    """A file path as given, or the cached file of a text preset (lee_background), fetched if need be."""
    from vocablab.presets import TEXT_PRESETS, ensure_text

    return ensure_text(spec) if spec in TEXT_PRESETS else spec


def emit(
    args: argparse.Namespace,
    data: dict,
    lines: Iterable[str],
    notes: Iterable[str] = (),
    *,
    ensure_ascii: bool = False,
) -> None:
    """Print a result: with --json its ``data``, otherwise its ``lines`` and then its ``notes`` on stderr."""
    if args.json:
        print(json.dumps(data, ensure_ascii=ensure_ascii, indent=1))
        return
    for line in lines:
        print(line)
    for note in notes:
        print(note, file=sys.stderr)
