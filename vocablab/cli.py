"""The `vocablab` command line: one small function per command over the library.

vocablab compare smollm2-135m gemma3-270m --text "12,345 apples" [--json]
vocablab transplant --base gemma3-270m --donor smollm2-135m --out out/gemma-smoltok
vocablab presets [--fetch NAME ... | --fetch-all]

Long work shows tqdm progress bars on stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys

from vocablab import __version__, options
from vocablab.errors import VocabLabError

MODEL_HELP = "presets, hub ids (org/name[@rev]), folders or .gguf files"
OVERWRITE_HELP = "replace the output folder if it is empty or is a model folder vocablab made (never any other folder)"

LOG = logging.getLogger("vocablab")


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'s' * (count != 1)}"


def _vocabularies(specs: list[str], trust_remote_code: bool):
    from vocablab.sources import load_vocabulary

    return [load_vocabulary(s, trust_remote_code=trust_remote_code) for s in specs]


def cmd_compare(args: argparse.Namespace) -> None:
    from vocablab.compare import compare_tokenization
    from vocablab.vocab import display_token

    text = _text(args)
    result = compare_tokenization(_vocabularies(args.models, args.trust_remote_code), text, mcv_rule=args.mcv_rule)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
        return
    for t in result.tokenized:
        print(
            f"== {t.name}: {t.n_tokens} tokens, {t.bytes_per_token:.2f} bytes/token, "
            f"{t.chars_per_token:.2f} chars/token{'' if t.round_trips else ' (does not round-trip)'}"
        )
        print(" | ".join(display_token(tok.piece) for tok in t.tokens))
    print(f"boundaries not shared by all: {len(result.disagreeing_boundaries)}")
    overlap = result.overlap
    for p in overlap.pairs:
        print(
            f"== overlap {p.a} ({overlap.sizes[p.a]:,}) vs {p.b} ({overlap.sizes[p.b]:,}): "
            f"shared by string {p.shared_by_string:,}, by bytes {p.shared_by_bytes:,}, "
            f"only in first {p.only_a_by_bytes:,}, only in second {p.only_b_by_bytes:,}, "
            f"MCV {p.mcv_size:,} ({p.mcv_rule} rule)"
        )
        for role, (a, b) in p.special_roles.items():
            print(f"   {role}: {a} / {b}")


def cmd_numbers(args: argparse.Namespace) -> None:
    from vocablab.numbers import compare_numbers

    a, b = _vocabularies(args.models, args.trust_remote_code)
    result = compare_numbers(a, b)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
        return
    print(f"A {result.a}: {result.scheme_a.description} ({result.scheme_a.kind})")
    print(f"B {result.b}: {result.scheme_b.description} ({result.scheme_b.kind})")
    print(f"{result.mismatch_total:,} of {result.samples_total:,} sample numbers are split differently")
    for rate in result.category_rates:
        print(
            f"   {rate['category']:20s} {'leading space' if rate['leading_space'] else 'no space':14s} "
            f"{rate['mismatches']:>7,} / {rate['samples']:<7,}"
        )
    for row in result.mismatches[:20]:
        print(f"   {row['number']!r:>16}  A {row['split_a']:<24} B {row['split_b']}")
    only_a, only_b = len(result.digit_tokens_only_a), len(result.digit_tokens_only_b)
    print(f"digit tokens only in A: {only_a:,}; only in B: {only_b:,}")


def cmd_transplant(args: argparse.Namespace) -> None:
    from vocablab.options import TRANSPLANT_K
    from vocablab.surgery import transplant

    if args.k is not None and args.method not in options.ANCHOR_METHODS:
        raise VocabLabError(f"--k sets the anchors of the omp and knn methods; the {args.method} method uses none")
    result = transplant(
        args.base,
        args.donor,
        args.out,
        k=TRANSPLANT_K if args.k is None else args.k,
        method=args.method,
        match=args.match,
        device=args.device,
        overwrite=args.overwrite,
        trust_remote_code=args.trust_remote_code,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return
    counts = ", ".join(f"{name} {value:,}" for name, value in result.counts.items())
    print(f"{result.out_dir}: {result.rows:,} rows ({counts}) in {result.seconds:.1f} s")
    for matrix, error in result.mean_error.items():
        print(f"   mean relative reconstruction error in the donor space ({matrix}): {error:.4f}")
    for matrix, products in result.omp_products.items():
        print(f"   OMP's correlation products ({matrix}): {products}")


def cmd_eval(args: argparse.Namespace) -> None:
    from vocablab.evaluate import bits_per_byte, read_documents
    from vocablab.presets import TEXT_PRESETS, ensure_text

    if len(args.models) == 1 and (args.space or args.weights):
        raise VocabLabError("--space and --weights score an ensemble: give two or more models")
    path = ensure_text(args.text) if args.text in TEXT_PRESETS else args.text
    documents = read_documents(path, limit=args.limit)
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
        if args.json:
            print(json.dumps(result.to_dict(), indent=1))
            return
        print(
            f"{' + '.join(result.models)} over {result.space} (weights {_fmt(result.weights)}), along the "
            f"{result.segmentation}: {result.ensemble_bits_per_byte:.4f} bits per byte "
            f"({result.n_bytes:,} bytes, {result.steps:,} steps)"
        )
        for name, alone, reduced, own in zip(
            result.models,
            result.alone_bits_per_byte,
            result.reduced_bits_per_byte,
            result.canonical_bits_per_byte,
            strict=True,
        ):
            print(
                f"   {name}: alone, scored as the ensemble {alone:.4f}; reduced, pruning charged (an upper bound) "
                f"{reduced:.4f}; own tokenization {own:.4f}"
            )
        if result.weight_sweep:
            print(
                "   weight of the first model -> bits per byte: "
                + ", ".join(f"{w:.1f}: {b:.4f}" for w, b in result.weight_sweep)
            )
        _print_normalized_documents(result.normalized_documents)
        return
    if args.subvocab:
        from vocablab.reduce.score import reduced_bits_per_byte

        result = reduced_bits_per_byte(
            args.models[0], documents, subvocab=args.subvocab, mcv_rule=args.mcv_rule, device=args.device
        )
        if args.json:
            print(json.dumps(result.to_dict(), indent=1))
            return
        print(
            f"{result.model} reduced to {result.subvocab}: {result.reduced_bits_per_byte:.4f} bits per byte along "
            f"the {result.segmentation}; own tokenization: {result.canonical_bits_per_byte:.4f} "
            f"({result.n_bytes:,} bytes, {result.steps:,} steps, {result.forward_passes:,} forward passes)",
        )
        _print_normalized_documents(result.normalized_documents)
        return
    result = bits_per_byte(args.models[0], documents, device=args.device, trust_remote_code=args.trust_remote_code)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return
    print(
        f"{result.model}: {result.bits_per_byte:.4f} bits per byte ({plural(result.n_documents, 'document')}, "
        f"{result.n_bytes:,} bytes, {result.n_tokens:,} tokens)"
    )


def _print_normalized_documents(numbers: list[int]) -> None:
    if numbers:
        shown = ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")
        print(
            f"   {plural(len(numbers), 'document')} ({shown}) scored as the tokenizers normalize them, on every side "
            "and per byte of that text: a tokenizer scores the text its normalizer makes, not the one given"
        )


def _normalized_prompt_lines(prompt: str, result) -> list[str]:
    """A line per model whose tokenizer changed the prompt's bytes (escaped, so that "é" and "e" + U+0301 differ)."""
    return [
        f"-- prompt normalized by {name}'s tokenizer: {ascii(prompt)} -> {ascii(text)}, which the model conditions on"
        for name, text in (result.prompt_normalized or {}).items()
    ]


def _fmt(weights: list[float]) -> str:
    return ",".join(f"{w:.2f}" for w in weights)


def _weights(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"weights must be numbers separated by commas, not {text!r}") from None


def _decoding(args: argparse.Namespace):
    from vocablab.options import Decoding

    sampling = {"--temperature": args.temperature, "--top-p": args.top_p, "--seed": args.seed}
    if not args.sample and (given := [name for name, value in sampling.items() if value is not None]):
        raise VocabLabError(f"{', '.join(given)}: only with --sample (decoding is greedy by default)")
    return Decoding(
        k=None if args.exact else args.k,
        greedy=not args.sample,
        temperature=1.0 if args.temperature is None else args.temperature,
        top_p=1.0 if args.top_p is None else args.top_p,
        seed=args.seed or 0,
        max_new_bytes=args.max_new_bytes,
        chat=args.chat,
        heal=not args.no_heal,
    )


def _shown(args: argparse.Namespace, data: bytes) -> str:
    """What a generation prints: with --chat, the reply alone (the prompt went into a chat turn, so
    prompt and reply do not join up as one text); otherwise the prompt and its continuation, joined
    as bytes, so a cut UTF-8 character from the command line joins the generated rest of it."""
    if args.chat:
        return data.decode("utf-8", errors="replace")
    return (args.prompt.encode("utf-8", "surrogateescape") + data).decode("utf-8", errors="replace")


def _print_generation(args: argparse.Namespace, result) -> None:
    from vocablab.reduce.generate import STATE_LIMIT_NOTE

    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
        return
    print(_shown(args, result.data))
    if result.prompt_tail:
        tails = " / ".join(repr(tail) for tail in dict.fromkeys(result.prompt_tail))
        print(f"-- prompt healed: its end {tails} conditioned on as text", file=sys.stderr)
    for line in _normalized_prompt_lines(args.prompt, result):
        print(line, file=sys.stderr)
    weights = f" (weights {_fmt(result.weights)})" if result.weights else ""
    print(
        f"-- {result.model} over {result.subvocab}{weights}: {result.steps} steps, {result.forward_passes} forward "
        f"passes, {result.bytes_per_step:.2f} bytes/step, {result.seconds:.1f} s, ended by {result.ended_by}",
        file=sys.stderr,
    )
    if result.ended_by == "state limit":
        print(f"-- {STATE_LIMIT_NOTE}; --k N keeps going", file=sys.stderr)
    if result.pruned_note:
        print(f"-- {result.pruned_note}", file=sys.stderr)


def cmd_generate(args: argparse.Namespace) -> None:
    from vocablab.reduce.generate import generate_reduced

    result = generate_reduced(
        args.model,
        args.prompt,
        subvocab=args.subvocab,
        mcv_rule=args.mcv_rule,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
        decoding=_decoding(args),
    )
    _print_generation(args, result)


def cmd_ensemble(args: argparse.Namespace) -> None:
    from vocablab.reduce.generate import generate_ensemble

    result = generate_ensemble(
        args.models,
        args.prompt,
        space=args.space,
        mcv_rule=args.mcv_rule,
        weights=args.weights,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
        decoding=_decoding(args),
    )
    _print_generation(args, result)


def cmd_side_by_side(args: argparse.Namespace) -> None:
    from vocablab.reduce.generate import STATE_LIMIT_NOTE, generate_side_by_side

    results = generate_side_by_side(
        args.models[0],
        args.models[1],
        args.prompt,
        subvocab=args.subvocab,
        decoding=_decoding(args),
        weight_a=args.weight_a,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
    )
    if args.json:
        print(json.dumps({title: r.to_dict() for title, r in results.items()}, ensure_ascii=False, indent=1))
        return
    for title, r in results.items():
        print(
            f"== {title}: {r.model} over {r.subvocab} ({r.steps} steps, {r.forward_passes} forward passes, "
            f"{r.bytes_per_step:.2f} bytes/step, {r.seconds:.1f} s, ended by {r.ended_by})"
        )
        if r.ended_by == "state limit":
            print(f"-- {STATE_LIMIT_NOTE}; --k N keeps going")
        for line in _normalized_prompt_lines(args.prompt, r):
            print(line)
        print(_shown(args, r.data))


def cmd_speculate(args: argparse.Namespace) -> None:
    from vocablab.reduce.speculate import speculate

    decoding = _decoding(args)
    result = speculate(
        args.target,
        args.draft,
        args.prompt,
        gamma=args.gamma,
        space=args.space,
        alone=not args.no_alone,
        device=args.device,
        draft_device=args.draft_device,
        trust_remote_code=args.trust_remote_code,
        decoding=decoding,
    )
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
        return
    print(_shown(args, result.data))
    print(
        f"-- {result.target} drafted by {result.draft} over {result.space}, gamma {result.gamma}: "
        f"{result.accepted}/{result.drafted} drafted symbols accepted ({result.acceptance_rate:.0%}), "
        f"{result.target_calls} target calls ({result.bytes_per_target_call:.2f} bytes each), "
        f"{result.draft_calls} draft calls, {result.seconds:.1f} s, ended by {result.ended_by}",
        file=sys.stderr,
    )
    if result.draft_lost_at is not None:
        print(
            f"-- the draft could not follow from symbol {result.draft_lost_at}; the target went on alone",
            file=sys.stderr,
        )
    alone = result.alone
    if alone is not None:
        same = "the same text" if result.same_as_alone else "another text (sampling draws differently)"
        print(
            f"-- the target alone: {alone.target_calls} target calls ({alone.bytes_per_target_call:.2f} bytes "
            f"each), {alone.seconds:.1f} s: {same}",
            file=sys.stderr,
        )


def cmd_draft_fit(args: argparse.Namespace) -> None:
    from vocablab.presets import TEXT_PRESETS, ensure_text
    from vocablab.reduce.draft_fit import draft_fit

    text = "\n".join(_read_text_file(ensure_text(args.text) if args.text in TEXT_PRESETS else args.text).splitlines())
    result = draft_fit(
        args.models[0],
        args.models[1:],
        text,
        space=args.space,
        max_bytes=args.max_bytes,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return
    gammas = list(result.drafts[0].speed_up)
    print(f"drafts for {result.target} along {result.text_bytes:,} bytes; speed-up per gamma (symbols per target call)")
    print(
        f"{'draft':16} {'route':10} {'alpha':>5} {'q10/q50/q90':>15} {'B/sym':>5} {'draft ms':>8} {'target ms':>9} "
        f"{'c':>5}  " + " ".join(f"{f'g={g}':>11}" for g in gammas) + f"  {'alpha needed':>12}"
    )
    for row in result.drafts:
        q = row.alpha_quantiles
        cells = " ".join(f"{f'{row.speed_up[g]:.2f}({row.expected_symbols[g]:.1f})':>11}" for g in gammas)
        needed = "none" if row.alpha_needed is None else f"{row.alpha_needed:.2f}"
        spread = "/".join(f"{q[name]:.2f}" for name in ("q10", "q50", "q90"))
        print(
            f"{row.draft:16} {row.route:10} {row.alpha_mean:5.2f} {spread:>15} "
            f"{row.bytes_per_symbol:5.2f} {row.draft_step_ms:8.1f} {row.target_step_ms:9.1f} {row.cost_ratio:5.2f}  "
            f"{cells}  {needed:>12}"
        )


def cmd_before_after(args: argparse.Namespace) -> None:
    from vocablab.evaluate import compare_before_after

    text = _text(args)
    result = compare_before_after(
        args.base, args.transplanted, text, args.prompt, device=args.device, trust_remote_code=args.trust_remote_code
    )
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
        return
    print(f"{'model':13} {'bits per byte':>13} {'tokens':>7}  greedy continuation of {args.prompt!r}")
    for label, spec in (("base", result.base), ("transplanted", result.transplanted)):
        print(
            f"{label:13} {result.bits_per_byte[label]:13.4f} {result.tokens[label]:7,}  "
            f"{result.continuations[label]!r}   ({spec})"
        )
    print(
        f"cost of the transplant: {result.bits_per_byte['transplanted'] - result.bits_per_byte['base']:+.4f} "
        f"bits per byte on {result.text_bytes:,} bytes"
    )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def cmd_align(args: argparse.Namespace) -> None:
    from vocablab.align import align_text

    text = _text(args)
    settings = options.AlignSettings(args.top_k, args.cost, args.alignment, args.temperature, args.reg)
    result = align_text(
        args.models[0],
        args.models[1],
        text,
        settings,
        transplant=args.transplant,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
    )
    positions = result.positions
    if args.position is not None:
        if not 0 <= args.position < len(positions):
            raise VocabLabError(
                f"position {args.position} is not among the {len(positions)} paired positions "
                f"(0 to {len(positions) - 1})"
            )
        positions = [positions[args.position]]
    if args.json:
        data = result.to_dict()
        data["positions"] = [
            p for p in data["positions"] if args.position is None or p is data["positions"][args.position]
        ]
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return
    how = "same byte offset" if result.alignment == "bytes" else "same token index"
    print(
        f"A {result.a} vs B {result.b}: {len(result.positions)} positions paired by {how} "
        f"(alignment: {result.alignment}); temperature {result.temperature:g}"
    )
    print(f"mean ULD ({result.alignment} alignment): {result.mean_uld:.4f}")
    if result.fallback_note():
        print(f"note: {result.fallback_note()}")
    print(
        f"Sinkhorn plan between the top-{result.top_k} of each, cost {result.cost_kind}, reg {result.reg:g}"
        + (f" (mapping: {result.transplant})" if result.transplant else "")
    )
    if args.position is None:
        print(
            f"{'#':>4} {'byte':>5} {'pos A/B':>8}  {'A predicts':14} {'B predicts':14} {'ULD':>6} {'OT cost':>7}"
            "  largest flow (mass, cost)"
        )
        for n, p in enumerate(positions):
            flow = p.flows[0]
            print(
                f"{n:>4} {p.byte_a:>5} {f'{p.index_a}/{p.index_b}':>8}  {p.predicted_a:14} {p.predicted_b:14} "
                f"{p.uld:6.3f} {p.transport_cost:7.3f}  {flow.source} -> {flow.target} ({flow.mass:.3f}, "
                f"{flow.cost:.2f})"
            )
        return
    p = positions[0]
    read = text.encode("utf-8")[: p.byte_a].decode("utf-8", errors="replace")
    print(
        f"position {args.position}: A at token {p.index_a} (byte {p.byte_a}), B at token {p.index_b} "
        f"(byte {p.byte_b}); text so far ends {read[-40:]!r}"
    )
    print(
        f"ULD {p.uld:.4f} over {p.n_padded:,} padded classes; transport cost {p.transport_cost:.4f} "
        f"(exact optimum {p.exact_cost:.4f})"
    )
    print(f"{'rank':>4}  {'A token':16} {'p':>7}  {'B token':16} {'q':>7}  |p-q|")
    for r, (ta, tb, c) in enumerate(zip(p.top_a, p.top_b, p.rank_cost, strict=True)):
        print(f"{r:>4}  {ta.token:16} {ta.prob:7.4f}  {tb.token:16} {tb.prob:7.4f}  {c:.4f}")
    print("largest flows of the Sinkhorn plan:")
    for flow in p.flows:
        print(f"   {flow.source:16} -> {flow.target:16} mass {flow.mass:.4f}  cost {flow.cost:.3f}")


def cmd_distill(args: argparse.Namespace) -> None:
    from vocablab.align.distill import distill
    from vocablab.presets import TEXT_PRESETS, ensure_text

    path = ensure_text(args.text) if args.text in TEXT_PRESETS else args.text
    settings = options.DistillSettings(
        args.steps, args.uld_weight, args.temperature, args.lr, args.alignment, limit=args.limit
    )
    result = distill(
        args.teacher,
        args.student,
        path,
        settings,
        out=args.out,
        device=args.device,
        overwrite=args.overwrite,
        trust_remote_code=args.trust_remote_code,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return
    print(
        f"{result.student} learning from {result.teacher} on {plural(result.documents, 'document')}; loss = ce + "
        f"{result.uld_weight:g} x ULD ({result.alignment} alignment, temperature {result.temperature:g}), "
        f"lr {result.lr:g}"
    )
    print(f"{'step':>4} {'ce':>8} {'uld':>8} {'loss':>8} {'positions':>9} {'s':>6}")
    for s in result.steps:
        print(f"{s.step:>4} {s.ce:8.4f} {s.uld:8.4f} {s.loss:8.4f} {s.positions:>9} {s.seconds:6.1f}")
    before, after = result.before, result.after
    print(
        f"on the training text: ULD {before['uld']:.4f} -> {after['uld']:.4f}, "
        f"ce {before['ce']:.4f} -> {after['ce']:.4f} nats per token ({result.seconds:.0f} s)"
    )
    print(f"student saved to {result.out_dir}" if result.out_dir else "student not saved (no --out)")


def cmd_presets(args: argparse.Namespace) -> None:
    from vocablab.presets import (
        MODEL_PRESETS,
        TOKENIZER_PRESETS,
        ensure_preset,
        is_cached,
        unavailable_reason,
    )

    names = [*MODEL_PRESETS, *TOKENIZER_PRESETS] if args.fetch_all else args.fetch
    for name in names:
        print(f"{name}: {ensure_preset(name)}")
    for name in [*MODEL_PRESETS, *TOKENIZER_PRESETS]:
        reason = unavailable_reason(name)
        state = "cached" if is_cached(name) else (f"unavailable: {reason}" if reason else "not fetched yet")
        print(f"{name:14s} {state}")


def _text(args: argparse.Namespace) -> str:
    """The text of --text, which must be valid UTF-8 (the shell can pass any bytes), or of --file."""
    if args.text is None:
        return _read_text_file(args.file)
    try:
        args.text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise VocabLabError(f"--text is not valid UTF-8 (at character {exc.start}); give the text as UTF-8") from None
    return args.text


def _read_text_file(path: str | None) -> str:
    if path is None:
        raise VocabLabError("give --text TEXT or --file PATH")
    try:
        with open(path, encoding="utf-8-sig") as handle:  # -sig: a leading byte-order mark is not text
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabLabError(f"cannot read {path}: {exc}") from exc


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # argparse reads a value that starts with "-" (--weights -1,2; --prompt "- a list") as the next option
        missing = re.fullmatch(r"argument (--[\w-]+): expected one argument", message)
        if missing:
            option = missing.group(1)
            message += f" (a value that starts with '-' goes after '=': {option}=VALUE)"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """The parser, built from :mod:`vocablab.options` alone: ``--help`` and argument errors load no
    model library (each command imports what it needs when it runs)."""
    parser = _Parser(prog="vocablab", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each step does")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str, run, *, models: str | None = None, bounds=(1, None)):
        p = sub.add_parser(name, help=help_text, description=help_text)
        # -v after the command too; SUPPRESS keeps a -v given before it
        verbose = {"action": "store_true", "default": argparse.SUPPRESS, "help": "log what each step does"}
        p.add_argument("-v", "--verbose", **verbose)
        if models:
            p.add_argument("models", nargs=models, metavar="MODEL", help=MODEL_HELP)
        p.set_defaults(run=run, min_models=bounds[0], max_models=bounds[1])
        return p

    def common(p, *, json_out=True, device=False, remote_code=False):
        if json_out:
            p.add_argument("--json", action="store_true", help="print JSON")
        if device:
            p.add_argument("--device", choices=options.DEVICES, default="auto", help="where models run (default auto)")
        if remote_code:
            p.add_argument("--trust-remote-code", action="store_true", help="allow a model's own Python code")

    def mcv_rule_option(p):
        p.add_argument(
            "--mcv-rule",
            choices=options.MCV_RULES,
            default=options.MCV_RULE,
            help=f"which shared strings the MCV keeps (default {options.MCV_RULE}): "
            + _choices_help(options.MCV_RULE_HELP),
        )

    def text_input(p, limit: str):
        text = p.add_mutually_exclusive_group(required=True)
        text.add_argument("--text", help=f"the text ({limit})")
        text.add_argument("--file", help="read the text from a UTF-8 file")

    compare = command(
        "compare", "tokenize a text side by side and compare vocabularies", cmd_compare, models="+", bounds=(2, None)
    )
    text_input(compare, f"up to {options.MAX_TEXT_CHARS:,} characters")
    mcv_rule_option(compare)
    common(compare, remote_code=True)

    numbers = command("numbers", "how two tokenizers split numbers", cmd_numbers, models="+", bounds=(2, 2))
    common(numbers, remote_code=True)

    graft = command("transplant", "give a base model a donor's tokenizer (OMP, no training)", cmd_transplant)
    graft.add_argument("--base", required=True, help="the model whose weights are kept")
    graft.add_argument("--donor", required=True, help="the model whose tokenizer the result gets")
    graft.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    graft.add_argument("--k", type=int, help=f"anchors per new token, omp and knn (default {options.TRANSPLANT_K})")
    graft.add_argument("--method", choices=options.METHODS, default="omp", help=_choices_help(options.METHOD_HELP))
    graft.add_argument("--match", choices=options.MATCH_MODES, default="bytes", help=_choices_help(options.MATCH_HELP))
    graft.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    common(graft, device=True, remote_code=True)

    evaluate = command(
        "eval",
        "bits per byte on a text file (one document per line): a model, a model reduced "
        "to a sub-vocabulary, or an ensemble of several models",
        cmd_eval,
        models="+",
    )
    evaluate.add_argument("--text", required=True, help="a UTF-8 file, or the text preset lee_background")
    evaluate.add_argument("--limit", type=int, help="score only the first N documents")
    evaluate.add_argument("--subvocab", help=f"score one model reduced to {options.SUBVOCAB_SPEC}")
    evaluate.add_argument("--space", choices=options.SPACES, help="ensemble space (default mcv)")
    mcv_rule_option(evaluate)
    evaluate.add_argument("--weights", type=_weights, help="ensemble weights, e.g. 0.5,0.5 (default uniform)")
    common(evaluate, device=True, remote_code=True)

    before_after = command(
        "before-after",
        "a base model and its transplant on one text: bits per byte and a greedy continuation",
        cmd_before_after,
    )
    before_after.add_argument("base", help="the base model")
    before_after.add_argument("transplanted", help="the transplanted model folder")
    text_input(before_after, "to score whole, as one document (eval reads a file as one document per line)")
    before_after.add_argument("--prompt", default="The capital of France is", help="prompt to continue greedily")
    common(before_after, device=True, remote_code=True)

    def decoding_options(p):
        p.add_argument("--prompt", required=True)
        size = p.add_mutually_exclusive_group()
        size.add_argument(
            "--k", type=int, default=options.LVR_K, help="K-LVR: next tokens kept per cover entry (default %(default)s)"
        )
        size.add_argument("--exact", action="store_true", help="no pruning (slow: the cover can grow quickly)")
        mode = p.add_mutually_exclusive_group()
        mode.add_argument("--greedy", action="store_true", help="greedy decoding (the default)")
        mode.add_argument("--sample", action="store_true", help="sample with --temperature and --top-p")
        p.add_argument("--temperature", type=float, help="with --sample (default 1)")
        p.add_argument("--top-p", type=float, help="with --sample (default 1: no nucleus cut)")
        p.add_argument("--seed", type=int, help="with --sample (default 0)")
        p.add_argument(
            "--max-new-bytes",
            type=int,
            default=options.MAX_NEW_BYTES,
            help="stop once this many bytes are generated (default %(default)s; the last token may end past it)",
        )
        p.add_argument(
            "--chat", action="store_true", help="wrap the prompt in each model's chat template; prints the reply alone"
        )
        p.add_argument(
            "--no-heal",
            action="store_true",
            help="condition on the prompt's canonical tokens; by default its end is conditioned on as text "
            "(every tokenization that could continue it, from its last boundary later text cannot move)",
        )
        common(p, device=True, remote_code=True)

    gen = command("generate", "generate over a sub-vocabulary (lossless vocabulary reduction)", cmd_generate)
    gen.add_argument("model")
    gen.add_argument("--subvocab", default="bytes", help=f"{options.SUBVOCAB_SPEC} (default bytes)")
    mcv_rule_option(gen)
    decoding_options(gen)

    ens = command(
        "ensemble",
        "generate with an ensemble of models with different tokenizers",
        cmd_ensemble,
        models="+",
        bounds=(2, None),
    )
    ens.add_argument("--space", choices=options.SPACES, default="mcv", help="shared space (default mcv)")
    mcv_rule_option(ens)
    ens.add_argument("--weights", type=_weights, help="one weight per model, e.g. 0.5,0.5 (default uniform)")
    decoding_options(ens)

    side = command(
        "side-by-side",
        "six generations from one prompt: A and B as is and reduced, and their MCV "
        "and byte ensembles (the app's generation view)",
        cmd_side_by_side,
        models="+",
        bounds=(2, 2),
    )
    side.add_argument("--subvocab", default="mcv", help="mcv (with the other model) | bytes | maxlen:N (default mcv)")
    side.add_argument("--weight-a", type=float, default=0.5, help="ensemble weight of model A (default 0.5)")
    decoding_options(side)

    spec = command(
        "speculate",
        "speculative decoding: a draft with another tokenizer proposes, the target verifies, "
        "both reduced to their MCV or bytes (the target's own law of texts)",
        cmd_speculate,
    )
    spec.add_argument("target", help=f"the model whose text it is ({MODEL_HELP})")
    spec.add_argument("draft", help="the smaller model that proposes symbols")
    spec.add_argument(
        "--gamma",
        type=int,
        default=options.SPECULATE_GAMMA,
        help=f"symbols drafted per round, 1 to {options.MAX_GAMMA} (default {options.SPECULATE_GAMMA})",
    )
    spec.add_argument("--space", choices=options.SPACES, default="mcv", help="shared space (default mcv)")
    spec.add_argument("--draft-device", choices=options.DEVICES, help="where the draft runs (default: --device)")
    spec.add_argument("--no-alone", action="store_true", help="skip the target alone (run for comparison by default)")
    decoding_options(spec)

    fit = command(
        "draft-fit",
        "how well drafts fit a target: acceptance alpha along a text and the expected speed-up per gamma",
        cmd_draft_fit,
        models="+",
        bounds=(2, None),
    )
    fit.add_argument("--text", required=True, help="a UTF-8 file, or the text preset lee_background")
    fit.add_argument(
        "--max-bytes",
        type=int,
        default=options.DRAFT_FIT_BYTES,
        help=f"score along the first N bytes (default {options.DRAFT_FIT_BYTES})",
    )
    fit.add_argument("--space", choices=options.SPACES, default="mcv", help="shared space (default mcv)")
    common(fit, device=True, remote_code=True)

    align = command(
        "align",
        "pair two models' next-token distributions on a text: ULD and transport plans",
        cmd_align,
        models="+",
        bounds=(2, 2),
    )
    text_input(align, f"up to {options.MAX_ALIGN_BYTES:,} bytes")
    align.add_argument("--position", type=int, help="show one paired position (its number in the table) in full")
    align.add_argument(
        "--top-k",
        type=int,
        default=options.ALIGN_TOP_K,
        help="tokens of each distribution in the plans (default 20, at most 200)",
    )
    align.add_argument("--cost", choices=options.COSTS, default="edit", help=_choices_help(options.COST_HELP))
    align.add_argument(
        "--alignment", choices=options.ALIGNMENTS, default="bytes", help=_choices_help(options.ALIGNMENT_HELP)
    )
    align.add_argument("--temperature", type=float, default=1.0)
    align.add_argument(
        "--reg",
        type=float,
        default=options.SINKHORN_REG,
        help="Sinkhorn entropic regularization, at least 0.005 (default 0.05)",
    )
    align.add_argument(
        "--transplant",
        help="transplant folder between the two models, for --cost embedding "
        "(default: the newest matching one in the app's workspace)",
    )
    common(align, device=True, remote_code=True)

    dist = command("distill", "train a student on a teacher's next-token distributions (CE + ULD)", cmd_distill)
    dist.add_argument("--teacher", required=True)
    dist.add_argument("--student", required=True)
    dist.add_argument(
        "--text",
        required=True,
        help="training text: a UTF-8 file (one document per line) or the text preset lee_background",
    )
    dist.add_argument("--limit", type=int, help="use only the first N documents")
    dist.add_argument("--steps", type=int, required=True, help="training steps, one document each")
    dist.add_argument(
        "--uld-weight", type=float, default=options.ULD_WEIGHT, help="weight of the ULD term (default 1.5)"
    )
    dist.add_argument("--temperature", type=float, default=1.0)
    dist.add_argument("--lr", type=float, default=options.DISTILL_LR, help="AdamW learning rate (default 5e-5)")
    dist.add_argument(
        "--alignment", choices=options.ALIGNMENTS, default="bytes", help=_choices_help(options.ALIGNMENT_HELP)
    )
    dist.add_argument("--out", help="save the student here (a safetensors model folder)")
    dist.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    common(dist, device=True, remote_code=True)

    presets = command("presets", "list the built-in presets and fetch them into the cache", cmd_presets)
    group = presets.add_mutually_exclusive_group()
    group.add_argument("--fetch", nargs="+", default=[], metavar="NAME", help="fetch these presets")
    group.add_argument("--fetch-all", action="store_true", help="fetch every preset")
    return parser


def _choices_help(helps: dict[str, str]) -> str:
    return "; ".join(f"{name}: {text}" for name, text in helps.items())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not sys.stderr.isatty():  # piped: no bars, the hub's and transformers' included (read when they load)
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    models = getattr(args, "models", None)
    if models is not None:
        low, high = args.min_models, args.max_models
        if len(models) < low or (high is not None and len(models) > high):
            wanted = f"exactly {low}" if low == high else f"at least {low}"
            parser.error(f"{args.command} takes {wanted} models, not {len(models)}")
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


if __name__ == "__main__":
    sys.exit(main())
