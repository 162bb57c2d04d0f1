"""Time and peak memory of `align` and of one `distill` step, and how byte and index alignment differ.

    python benchmarks/bench_align.py [--teacher gemma3-270m] [--student smollm2-135m] [--articles 20]

Every timing runs in a fresh child process that reports its own peak resident memory, after the
models and tokenizers are loaded (loading is not timed; the app keeps both loaded). Texts are the
lee_background articles, cut to N bytes.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vocablab.align import align_text
from vocablab.align.distill import distill
from vocablab.evaluate import read_documents
from vocablab.options import AlignSettings, DistillSettings
from vocablab.presets import ensure_text
from vocablab.sources import load_causal_lm, load_vocabulary


def article(n_bytes: int) -> str:
    text = " ".join(read_documents(ensure_text("lee_background")))
    return text.encode("utf-8")[:n_bytes].decode("utf-8", errors="ignore")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_align(teacher: str, student: str, n_bytes: int) -> dict:
    models = (load_causal_lm(teacher), load_causal_lm(student))
    load_vocabulary(teacher), load_vocabulary(student)  # read once per process, like the app does
    text = article(n_bytes)
    started = time.perf_counter()
    result = align_text(teacher, student, text, AlignSettings(top_k=20), models=models)
    return {"seconds": time.perf_counter() - started, "positions": len(result.positions), "peak_mib": peak_mib()}


def child_distill(teacher: str, student: str, n_bytes: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text(article(n_bytes) + "\n")
        result = distill(teacher, student, path, DistillSettings(steps=steps, block_bytes=n_bytes))
    seconds = [s.seconds for s in result.steps]
    return {
        "step_seconds": float(np.median(seconds)),
        "peak_mib": peak_mib(),
        "before": result.before,
        "after": result.after,
    }


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def alignment_gap(teacher: str, student: str, articles: int, n_bytes: int) -> dict:
    """Over several articles: how often index alignment pairs positions that have read different text,
    and the mean ULD under each alignment."""
    models = (load_causal_lm(teacher), load_causal_lm(student))
    documents = [
        d.encode("utf-8")[:n_bytes].decode("utf-8", errors="ignore")
        for d in read_documents(ensure_text("lee_background"), limit=articles)
    ]
    stats = {"bytes": [], "index": [], "drift": [], "paired_bytes": [], "paired_index": []}
    for text in documents:
        for how in ("bytes", "index"):
            result = align_text(teacher, student, text, AlignSettings(5, alignment=how), models=models)
            stats[how] += [p.uld for p in result.positions]
            stats[f"paired_{how}"].append(len(result.positions))
            if how == "index":
                stats["drift"] += [p.byte_a != p.byte_b for p in result.positions]
    return {
        "articles": len(documents),
        "uld_bytes": float(np.mean(stats["bytes"])),
        "uld_index": float(np.mean(stats["index"])),
        "paired_bytes": int(np.sum(stats["paired_bytes"])),
        "paired_index": int(np.sum(stats["paired_index"])),
        "index_pairs_on_different_text": float(np.mean(stats["drift"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", default="gemma3-270m")
    parser.add_argument("--student", default="smollm2-135m")
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    if args.child:
        kind, *numbers = args.child
        if kind == "align":
            print(json.dumps(child_align(args.teacher, args.student, int(numbers[0]))))
        else:
            print(json.dumps(child_distill(args.teacher, args.student, int(numbers[0]), int(numbers[1]))))
        return
    print(f"A (teacher) {args.teacher}, B (student) {args.student}, {torch.get_num_threads()} CPU threads\n")
    print("| align, text bytes | paired positions | seconds | peak memory (MiB) |")
    print("|---|---|---|---|")
    for n_bytes in (500, 1000, 2000, 4000):
        r = run_child("align", str(n_bytes))
        print(f"| {n_bytes:,} | {r['positions']} | {r['seconds']:.1f} | {r['peak_mib']:,.0f} |")
    print("\n| distill, bytes per step | median seconds per step | peak memory (MiB) | ULD before -> after (3 steps) |")
    print("|---|---|---|---|")
    for n_bytes in (250, 1000):
        r = run_child("distill", str(n_bytes), "3")
        print(
            f"| {n_bytes:,} | {r['step_seconds']:.1f} | {r['peak_mib']:,.0f} | "
            f"{r['before']['uld']:.4f} -> {r['after']['uld']:.4f} |"
        )
    gap = alignment_gap(args.teacher, args.student, args.articles, 400)
    print(
        f"\n{gap['articles']} articles x 400 bytes: byte alignment pairs {gap['paired_bytes']:,} positions, index "
        f"alignment {gap['paired_index']:,}, of which {gap['index_pairs_on_different_text']:.1%} have read "
        f"different text. Mean ULD: {gap['uld_bytes']:.4f} (bytes), {gap['uld_index']:.4f} (index)."
    )


if __name__ == "__main__":
    main()
