"""The model card (README.md) a transplant writes into its output folder, so what was done travels
with the model: in its folder, its .zip and a hub push.

The card names base and donor as the user named them (a preset, a hub id, an ``output:NAME``
handle), a local folder by its name alone: no path of the machine that made it is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from vocablab.options import METHOD_HELP

CARD = "README.md"
TAGS = ("vocablab", "tokenizer-transplant")
# an absolute path (not a URL's "//host/...", not a hub id's "org/name"): its last part is kept
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~])~?/(?:[^\s'\"/,;()]+/)*([^\s'\"/,;()]+)")
QUOTED_PATH = re.compile(r"(['\"])~?/(?:[^'\"\n]*/)?([^'\"/\n]*)\1")  # one in quotes may hold spaces


def without_paths(text: str) -> str:
    """``text`` with every absolute path of this machine named by its last part (a warning may
    name the base, the donor or the output folder by their paths)."""
    return ABSOLUTE_PATH.sub(r"\1", QUOTED_PATH.sub(r"\1\2\1", text))


def shown_name(spec: str) -> str:
    """A model as the card names it: a local folder or file by its name alone, anything else as typed."""
    path = Path(spec).expanduser()
    return path.name if path.is_absolute() or path.exists() else spec


def hub_id(spec: str) -> str | None:
    """The hub repository ``spec`` names (without a revision), or None for a preset, a handle or a path."""
    from vocablab.presets import is_preset
    from vocablab.sources import HUB_ID

    name = spec.split("@", 1)[0]
    if is_preset(spec) or ":" in spec or Path(spec).expanduser().exists() or not HUB_ID.match(name):
        return None
    return name


def model_card(settings: dict, measured: dict | None = None) -> str:
    """The card of a transplant from its report (``transplant.json``'s fields); ``measured``, when
    a before/after was run: ``bits_per_byte`` (base, transplanted), ``text_bytes`` and ``tokens``."""
    from vocablab import __version__

    base, donor = shown_name(settings["base"]), shown_name(settings["donor"])
    front = ["---", "library_name: transformers", "tags:", *(f"- {tag}" for tag in TAGS)]
    if hub_id(settings["base"]):
        front.append(f"base_model: {hub_id(settings['base'])}")
    front.append("---")
    counts = settings["counts"]
    method = settings["method"]
    anchors = f", k = {settings['k']} anchors per new token" if settings.get("k") else ""
    lines = [
        *front,
        "",
        f"# {base} with the tokenizer of {donor}",
        "",
        f"**{base}**'s weights with **{donor}**'s tokenizer, made by a tokenizer transplant "
        "without any training (`vocablab transplant`).",
        "",
        f"- base (keeps its weights): `{base}`",
        f"- donor (gives its tokenizer): `{donor}`",
        f"- method: `{method}` ({METHOD_HELP.get(method, method)}){anchors}",
        f"- matching of shared tokens: `{settings['match']}`",
        f"- weights written as: `{settings.get('dtype', 'auto')}`",
        f"- rows: {settings['rows']:,}: {counts.get('exact', 0):,} exact and {counts.get('bytes', 0):,} "
        f"byte-matched copies of the base's rows, {counts.get('special', 0):,} special tokens copied by role, "
        f"{counts.get('approximated', 0):,} new tokens approximated"
        + (
            f", {counts['no_donor_row']:,} without a donor row (the base's mean row)"
            if counts.get("no_donor_row")
            else ""
        ),
        f"- embeddings: {'tied, kept tied' if settings.get('tied') else 'input embedding and output head apart'}",
    ]
    for matrix, error in settings.get("mean_error", {}).items():
        lines.append(f"- mean relative reconstruction error in the donor's space ({matrix}): {error:.4f}")
    if settings.get("warnings"):  # the digit-scheme warning among them
        lines += ["", "## Warnings", "", *(f"- {without_paths(warning)}" for warning in settings["warnings"])]
    lines += ["", "## Quality", "", *_quality(base, settings["out_dir"], measured)]
    lines += ["", f"Made with vocablab {__version__}. `transplant.json` holds these settings, and"]
    lines.append("`transplant_anchors.safetensors` the anchors and coefficients of every new token.")
    return "\n".join(lines) + "\n"


def _quality(base: str, folder: str, measured: dict | None) -> list[str]:
    if not measured:
        return [
            "Not measured yet. Bits per byte (lower is better; comparable across tokenizers) of the base and",
            "this model on a text of your own:",
            "",
            f"    vocablab before-after {base} {folder} --file YOUR_TEXT.txt",
        ]
    scores = measured["bits_per_byte"]
    return [
        f"Bits per byte on a {measured['text_bytes']:,}-byte text (vocablab before-after; lower is better):",
        "",
        "| model | bits per byte | tokens |",
        "|---|---|---|",
        *(f"| {label} | {scores[label]:.4f} | {measured['tokens'][label]:,} |" for label in ("base", "transplanted")),
        "",
        "One text proves little: score a corpus with `vocablab eval FOLDER --text lee_background`.",
    ]


def write_model_card(folder: str | Path, measured: dict | None = None) -> Path:
    """(Re)write the card of the transplant in ``folder`` from its report, with ``measured`` scores."""
    folder = Path(folder)
    settings = json.loads((folder / "transplant.json").read_text())
    target = folder / CARD
    target.write_text(model_card(settings, measured), encoding="utf-8")
    return target
