"""A big-vocabulary donor: SmolLM2 given the tokenizer of a tiny Qwen model, time against its products.

    python benchmarks/bench_big_donor.py [--base smollm2-135m] [--k 8] [--hidden 32] [--threads 2]

Builds a random Qwen2ForCausalLM (2 layers, hidden size 32, seed 0) that carries the real ``qwen3``
preset tokenizer, its head padded past the tokenizer as Qwen ships it, in a temporary folder; runs
``transplant(base, donor, k=8)``; then times the correlation products alone: the same
(targets x d) @ (d x atoms) float32 products, k per block of 256 targets, done plainly with torch in
the same process, both with all atoms at once and 4,096 atoms at a time (the faster is the
reference). Prints wall and CPU times (the machine may be shared: the CPU time of this process is
the steadier measure) and their ratios, the transplant's phases, the peak resident memory and the
CPU. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from vocablab.sources import load_vocabulary, resolve
from vocablab.surgery import transplant
from vocablab.surgery.engine import omp_problem

QWEN_ROWS = 151_936  # Qwen3's embedding rows: the tokenizer's 151,669 ids, padded


def tiny_qwen(folder: Path, hidden: int, seed: int = 0) -> Path:
    """A random 2-layer Qwen2ForCausalLM of width ``hidden`` with the qwen3 preset's tokenizer."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    source = resolve("qwen3")
    folder.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source.path / name, folder / name)
    vocab = load_vocabulary("qwen3")
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=max(QWEN_ROWS, len(vocab)),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
        max_position_embeddings=128,
        bos_token_id=vocab.roles.get("bos"),
        eos_token_id=vocab.roles.get("eos"),
    )
    Qwen2ForCausalLM(config).save_pretrained(folder)
    return folder


def clocks() -> tuple[float, float]:
    """(wall, CPU) seconds: other engineers share this machine's cores, so the CPU time of this
    process is the steadier measure of its work; both are printed."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1]


def products_seconds(atoms: torch.Tensor, targets: torch.Tensor, k: int, span: int | None) -> tuple[float, float]:
    """(wall, CPU) seconds of the transplant's correlation products alone, done plainly: for each
    block of 256 targets, k float32 products (256 x d) @ (d x atoms), with all atoms at once
    (``span`` None) or ``span`` atoms at a time, into one reused output."""
    block, span = 256, span or len(atoms)
    out = torch.empty(block * span)
    start = clocks()
    for first in range(0, len(targets), block):
        y = targets[first : first + block]
        for _ in range(k):
            for low in range(0, len(atoms), span):
                part = atoms[low : low + span]
                torch.mm(y, part.T, out=out[: len(y) * len(part)].view(len(y), len(part)))
    return since(start)


def cpu_line() -> str:
    info = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("Model name")), "")
    model = model or platform.processor()
    flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("Flags")), [])
    wide = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {torch.get_num_threads()} threads, flags: {' '.join(wide) or 'none of avx2/avx512'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="smollm2-135m")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp())
    try:
        donor = str(tiny_qwen(work / "qwen-donor", args.hidden))
        start = clocks()
        result = transplant(args.base, donor, work / "out", k=args.k)
        total = since(start)
        embed, shared, new = omp_problem(args.base, donor)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    atoms, targets = embed[shared].float(), embed[new].float()
    products = {span: products_seconds(atoms, targets, args.k, span) for span in (None, 4096)}
    fastest = min(products.values(), key=lambda clock: clock[1])  # the reference: the faster form, by CPU
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    flop = 2.0 * len(new) * args.k * len(shared) * embed.shape[1]
    print(f"{args.base} with a tiny Qwen donor's tokenizer (width {embed.shape[1]}), k={args.k}")
    print(f"new tokens {len(new):,}, shared atoms {len(shared):,}; correlation products {flop:.2e} FLOP")
    for span, (wall, cpu) in products.items():
        form = f"{span:,} atoms at a time" if span else "all atoms at once"
        print(f"products alone, {form}: wall {wall:.1f} s, CPU {cpu:.1f} s ({flop / cpu / 1e9:.0f} GFLOP per CPU-s)")
    print(f"transplant, end to end: wall {total[0]:.1f} s, CPU {total[1]:.1f} s")
    print(f"ratio to the faster products: wall {total[0] / fastest[0]:.2f}, CPU {total[1] / fastest[1]:.2f}")
    print("phases (wall): " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.phase_seconds.items()))
    print(f"OMP products: {result.omp_products}; peak memory: {peak_mb:.0f} MB")
    print(f"CPU: {cpu_line()}")


if __name__ == "__main__":
    main()
