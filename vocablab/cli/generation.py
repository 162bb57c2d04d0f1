"""How the generation commands print a :class:`~vocablab.reduce.generate.Generation`: the text on
stdout, what the run did on stderr (side-by-side prints all six on stdout).

The lines themselves are the result's (``Generation.notes``, ``Generation.summary``); the app shows
its generations as HTML (ui/generate_tab.py).
"""

from __future__ import annotations

import argparse

from vocablab.cli.common import emit


def shown(args: argparse.Namespace, data: bytes) -> str:
    """What a generation prints: with --chat, the reply alone (the prompt went into a chat turn, so
    prompt and reply do not join up as one text); otherwise the prompt and its continuation, joined
    as bytes, so a cut UTF-8 character from the command line joins the generated rest of it."""
    if args.chat:
        return data.decode("utf-8", errors="replace")
    return (args.prompt.encode("utf-8", "surrogateescape") + data).decode("utf-8", errors="replace")


def print_generation(args: argparse.Namespace, result) -> None:
    """generate and ensemble: the text on stdout, the notes on stderr (or the JSON)."""
    emit(args, result.to_dict(), [shown(args, result.data)], result.notes(args.prompt))


def side_by_side_lines(args: argparse.Namespace, results: dict) -> list[str]:
    """A heading line per generation of :func:`~vocablab.reduce.generate.generate_side_by_side`, then its text."""
    from vocablab.reduce.generate import STATE_LIMIT_NOTE

    out = []
    for title, r in results.items():
        out.append(
            f"== {title}: {r.model} over {r.subvocab} ({r.steps} steps, {r.forward_passes} forward passes, "
            f"{r.bytes_per_step:.2f} bytes/step, {r.seconds:.1f} s, ended by {r.ended_by})"
        )
        if r.ended_by == "state limit":
            out.append(f"-- {STATE_LIMIT_NOTE}; --k N keeps going")
        out += r.normalized_lines(args.prompt)
        out.append(shown(args, r.data))
    return out
