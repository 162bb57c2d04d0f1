"""How the generation commands print a :class:`~vocablab.reduce.generate.Generation`: the text on
stdout, what the run did on stderr (side-by-side prints all six on stdout).

Kept here rather than on the class while ``reduce/generate.py`` is being split; the app shows its
generations as HTML (ui/generate_tab.py).
"""

from __future__ import annotations

import argparse

from vocablab.cli.common import emit
from vocablab.pretty import weights_text


def shown(args: argparse.Namespace, data: bytes) -> str:
    """What a generation prints: with --chat, the reply alone (the prompt went into a chat turn, so
    prompt and reply do not join up as one text); otherwise the prompt and its continuation, joined
    as bytes, so a cut UTF-8 character from the command line joins the generated rest of it."""
    if args.chat:
        return data.decode("utf-8", errors="replace")
    return (args.prompt.encode("utf-8", "surrogateescape") + data).decode("utf-8", errors="replace")


def normalized_prompt_lines(prompt: str, result) -> list[str]:
    """A line per model whose tokenizer changed the prompt's bytes (escaped, so that "é" and "e" + U+0301 differ)."""
    return [
        f"-- prompt normalized by {name}'s tokenizer: {ascii(prompt)} -> {ascii(text)}, which the model conditions on"
        for name, text in (result.prompt_normalized or {}).items()
    ]


def generation_notes(prompt: str, result) -> list[str]:
    """The lines under a generation: healing, normalization, steps and speed, why it ended, pruning."""
    from vocablab.reduce.generate import STATE_LIMIT_NOTE

    out = []
    if result.prompt_tail:
        tails = " / ".join(repr(tail) for tail in dict.fromkeys(result.prompt_tail))
        out.append(f"-- prompt healed: its end {tails} conditioned on as text")
    out += normalized_prompt_lines(prompt, result)
    weights = f" (weights {weights_text(result.weights)})" if result.weights else ""
    out.append(
        f"-- {result.model} over {result.subvocab}{weights}: {result.steps} steps, {result.forward_passes} forward "
        f"passes, {result.bytes_per_step:.2f} bytes/step, {result.seconds:.1f} s, ended by {result.ended_by}"
    )
    if result.ended_by == "state limit":
        out.append(f"-- {STATE_LIMIT_NOTE}; --k N keeps going")
    if result.pruned_note:
        out.append(f"-- {result.pruned_note}")
    return out


def print_generation(args: argparse.Namespace, result) -> None:
    """generate and ensemble: the text on stdout, the notes on stderr (or the JSON)."""
    emit(args, result.to_dict(), [shown(args, result.data)], generation_notes(args.prompt, result))


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
        out += normalized_prompt_lines(args.prompt, r)
        out.append(shown(args, r.data))
    return out
