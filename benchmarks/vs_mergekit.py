"""vocablab's OMP transplant against mergekit-tokensurgeon, the tool users would pick instead, in one run.

    python benchmarks/vs_mergekit.py [--base gemma3-270m] [--donor smollm2-135m] [--k 64] [--limit 40]
                                     [--device cpu|cuda] [--skip-mergekit] [--mergekit SCRIPT] [--keep DIR]
                                     [--match string bytes]

Gives the base the donor's tokenizer three times, each a separate process: vocablab with
match=string (mergekit's matching rule: the like-for-like run), vocablab with match=bytes (its
default; --match picks which of the two run) and mergekit 0.1.5 (`mergekit-tokensurgeon BASE DONOR
OUT --approximation-method omp --k 64 --device cpu`, no prefix or byte matching: its defaults,
spelled out). --device cuda runs both tools, and the scoring, on the GPU instead. Both tools read
the same local preset folders; the children run with HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1, so a
hub lookup would fail the run rather than pass unnoticed. Prints one Markdown table.

mergekit is LGPL-3.0 and is only run, never imported here nor a dependency of vocablab: the script
makes its own virtual environment, ~/.cache/vocablab/bench-venvs/mergekit-0.1.5 (reused while its
versions match), installs there the torch of the Python running this script (same build for both
tools; installed first so mergekit's `torch>=2.0` is already met and pulls no CUDA packages), then
mergekit==0.1.5, which brings transformers>=5,<6: no pin conflicts with vocablab's stack. On a
machine with no package index, --mergekit names a mergekit-tokensurgeon script installed by hand.

Measures, per tool:
- wall time: of the whole transplant process, imports included, after the model files have been read
  once so no run pays for a cold page cache;
- peak memory (host memory: GPU memory is not counted) and CPU time: ru_maxrss and user + system
  time of the transplant process, read by a small wrapper process that starts it and reads
  RUSAGE_CHILDREN. The wrapper is needed: a process started straight from this one would inherit
  this process's high-water mark across exec, and RUSAGE_CHILDREN of this process is a maximum over
  all its children, not per run;
- CPU time of other processes meanwhile (from /proc/stat, Linux): near 0 on a quiet machine; when it
  is not, the wall times are skewed by other work;
- new tokens: vocablab's transplant.json ("approximated"); mergekit's "Tokens to approximate" line,
  which it logs at -v for the input embedding (tied here, so the only matrix built);
- bits per byte on the last --limit lee_background articles, each model with its own tokenizer,
  scored by vocablab's bits_per_byte; the base with its own tokenizer is the reference. Twice: the
  articles as they are (one line each, no line break anywhere), and the same articles ten to a
  document with a blank line between them, as text with paragraphs comes. The two differ where a
  transplant gets "\n\n" right or wrong: the base model gives a paragraph break real probability
  after a sentence, which the one-line format never rewards;
- vocablab's OMP step (transplant.json, phase_seconds["embed"]) and the rate of its correlation
  products, 2 x new tokens x atoms (copied text tokens: specials are copied but never atoms) x width
  x k operations, as a share of a plain float32
  and of a plain bfloat16 product of one block's shape (256 targets on the CPU, 2048 on a GPU: OMP's
  block sizes) timed in this run on the same device (the int8 rate is printed beside them). Where
  bfloat16 products are at least 1.5x as fast as float32 ones, vocablab's OMP screens in bfloat16
  (docs/methods.md §3), so its bfloat16 share is the one to read there; the row names the products
  the run used (transplant.json, omp_products);
- speed-up: mergekit's wall time over each vocablab run's.

Agreement with mergekit (for each vocablab run). mergekit 0.1.5 cannot save its anchors or
coefficients: no option does, and its OMP results are used for the new rows and dropped
(mergekit/scripts/tokensurgeon.py, compute_new_embeddings). They are read back from its output:
its row for a new token is sum_j c_j B[a_j], mergekit's coefficients c on the base rows B of its
anchors a. vocablab records its anchors a' (transplant_anchors.safetensors: new_ids,
embed.anchors, embed.coefficients), and its output holds B[a'] bit for bit (shared rows are
copies). So we solve mergekit's row by least squares on B[a']: when the anchor sets are equal the
residual is float32 rounding (relative 1e-7 here) and the solution is mergekit's coefficients, in
vocablab's anchor order; when a set differs, the row is off that 64-dimensional subspace of the
640-dimensional space (generic rows have no such linear dependency) and the residual is large,
unless the differing anchors' coefficients are themselves negligible. Rows:
- new tokens mergekit also approximates: vocablab's new tokens whose mergekit row is not a base row
  bit for bit (exact integer fingerprints of the float32 rows);
- copied rows equal to mergekit's: of vocablab's rows that are base rows bit for bit (its copied
  tokens), those equal to mergekit's row for the same id;
- anchor set equal: relative residual below 1e-4 (SPAN_TOLERANCE), of the tokens new in both;
- coefficient difference: median of |c_mergekit - c_vocablab| / |c_vocablab| over the equal sets;
- row cosine: median cosine between the two tools' rows for the tokens new in both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch
from safetensors.torch import load_file

from vocablab.evaluate import bits_per_byte, read_documents
from vocablab.presets import cache_dir, ensure_preset, ensure_text
from vocablab.surgery.checkpoint import EmbeddingRows, find_embeddings, read_tensor, weight_files
from vocablab.surgery.engine import ANCHORS, REPORT

MERGEKIT_VERSION = "0.1.5"
SPAN_TOLERANCE = 1e-4
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# Runs a command; writes its wall time, peak RSS (ru_maxrss, KiB on Linux) and CPU time as JSON to argv[1].
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
stats = {"seconds": seconds, "peak_kib": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}
with open(sys.argv[1], "w") as out:
    json.dump(stats, out)
sys.exit(code)
"""


@dataclass
class Run:
    label: str
    command: list[str]
    out: Path
    seconds: float = 0.0
    peak_mib: float = 0.0
    cpu_seconds: float = 0.0  # user + system time of the transplant process
    other_cpu_seconds: float = 0.0  # CPU time the rest of the machine used meanwhile: contention skews the times
    new_tokens: int = 0
    copied_tokens: int = 0
    atoms: int = 0  # vocablab only: OMP's atoms, the copied text tokens (exact and bytes, not special)
    bits_per_byte: float = 0.0
    bits_per_byte_paragraphs: float = 0.0
    omp_seconds: float = 0.0  # vocablab only: its OMP step (transplant.json phase_seconds)
    omp_products: str = ""  # vocablab only: "bfloat16 screen" or "float32" (transplant.json)
    agreement: dict[str, str] = field(default_factory=dict)


def fail(command: list[str], code: int, log: Path) -> None:
    """Stop with the end of the command's log (the log itself may be in a temporary folder)."""
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    sys.exit(f"{shlex.join(command)} exited with {code}; the end of its log:\n{tail}")


def machine_busy_seconds() -> float:
    """CPU seconds all processes have used since boot: user, nice, system, irq and softirq of /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def measure(command: list[str], log: Path) -> tuple[float, float, float, float]:
    """Wall seconds, peak resident MiB and CPU seconds of ``command`` (run in a fresh wrapper
    process), and the CPU seconds the rest of the machine used meanwhile."""
    stats = log.with_suffix(".json")
    busy = machine_busy_seconds()
    with open(log, "w") as handle:
        code = subprocess.call(
            [sys.executable, "-c", MEASURE, str(stats), *command],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **OFFLINE},
        )
    if code != 0:
        fail(command, code, log)
    others = machine_busy_seconds() - busy
    result = json.loads(stats.read_text())
    return result["seconds"], result["peak_kib"] / 1024, result["cpu"], max(0.0, others - result["cpu"])


def mergekit_venv(log_dir: Path) -> tuple[Path, float]:
    """The mergekit-tokensurgeon script of our own virtual environment, installed if needed, and install seconds."""
    venv = cache_dir() / "bench-venvs" / f"mergekit-{MERGEKIT_VERSION}"
    script = venv / "bin" / "mergekit-tokensurgeon"
    torch_version = metadata.version("torch").split("+")[0]
    wanted = {"mergekit": MERGEKIT_VERSION, "torch": torch_version}
    marker = venv / "vocablab-bench.json"
    if script.is_file() and marker.is_file() and json.loads(marker.read_text()) == wanted:
        return script, 0.0
    start = time.perf_counter()
    print(f"installing mergekit {MERGEKIT_VERSION} and torch {torch_version} into {venv} ...", file=sys.stderr)
    log = log_dir / "mergekit-install.log"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [*pip, f"torch=={torch_version}"],  # first: mergekit's torch>=2.0 is then met without CUDA packages
        [*pip, f"mergekit=={MERGEKIT_VERSION}"],
    ]
    with open(log, "w") as handle:
        for step in steps:
            if (code := subprocess.call(step, stdout=handle, stderr=subprocess.STDOUT)) != 0:
                fail(step, code, log)
    marker.write_text(json.dumps(wanted))
    return script, time.perf_counter() - start


def mergekit_counts(log: Path) -> tuple[int, int]:
    """(tokens to approximate, exact matches) from the first Token Breakdown mergekit logs at -v."""
    text = log.read_text(errors="replace")
    new = re.search(r"Tokens to approximate: (\d+)", text)
    exact = re.search(r"Exact matches: (\d+)", text)
    if new is None or exact is None:
        sys.exit(f"no token breakdown in {log}: did mergekit's log format change?")
    return int(new.group(1)), int(exact.group(1))


def embedding(model_dir: Path) -> torch.Tensor:
    return read_tensor(model_dir, find_embeddings(model_dir)[0]).float()


def fingerprints(rows: torch.Tensor) -> torch.Tensor:
    """An exact key per float32 row: integer arithmetic on its bits, so no rounding enters."""
    weights = torch.randint(1, 2**31, (rows.shape[1],), generator=torch.Generator().manual_seed(0))
    return torch.cat([(chunk.view(torch.int32).long() * weights).sum(dim=1) for chunk in rows.split(8192)])


def agreement(ours_dir: Path, theirs_dir: Path, base_rows: torch.Tensor) -> dict[str, str]:
    """How far vocablab's output agrees with mergekit's (module docstring, 'Agreement')."""
    record = load_file(str(ours_dir / ANCHORS))
    new_ids, anchors, coefficients = record["new_ids"], record["embed.anchors"], record["embed.coefficients"]
    ours, theirs = embedding(ours_dir), embedding(theirs_dir)
    base_keys = fingerprints(base_rows)

    rows = min(len(ours), len(theirs))
    copied = torch.isin(fingerprints(ours[:rows]), base_keys)
    same_copies = (ours[:rows][copied] == theirs[:rows][copied]).all(dim=1)
    also_new = ~torch.isin(fingerprints(theirs[new_ids]), base_keys)
    both = int(also_new.sum())
    out = {
        "new tokens mergekit also approximates": f"{both:,} / {len(new_ids):,}",
        "copied rows equal to mergekit's": f"{int(same_copies.sum()):,} / {int(copied.sum()):,}",
    }
    if both == 0:
        return out

    residuals, coefficient_errors, cosines = [], [], []
    for batch in torch.arange(len(new_ids))[also_new].split(512):
        basis = ours[anchors[batch]].double()  # (n, k, width): base rows of vocablab's anchors
        target = theirs[new_ids[batch]].double()  # (n, width): mergekit's rows
        solved = torch.linalg.lstsq(basis.transpose(1, 2), target.unsqueeze(-1)).solution.squeeze(-1)
        rebuilt = torch.einsum("nk,nkd->nd", solved, basis)
        residuals.append((rebuilt - target).norm(dim=1) / target.norm(dim=1))
        mine = coefficients[batch].double()
        coefficient_errors.append((solved - mine).norm(dim=1) / mine.norm(dim=1))
        cosines.append(torch.nn.functional.cosine_similarity(ours[new_ids[batch]].double(), target, dim=1))
    residual, coefficient_error, cosine = (torch.cat(values) for values in (residuals, coefficient_errors, cosines))
    equal = residual < SPAN_TOLERANCE
    out["anchor set equal to mergekit's (of new in both)"] = f"{equal.float().mean().item():.1%}"
    if equal.any():
        out["median relative coefficient difference (equal sets)"] = f"{coefficient_error[equal].median().item():.2e}"
    out["median cosine of new rows to mergekit's"] = f"{cosine.median().item():.6f}"
    return out


def gemm_rates(rows: int, width: int, atoms: int, device: str) -> dict[str, float]:
    """Operations per second (GFLOP/s, GOP/s for int8) of a plain (rows x width) @ (width x atoms)
    product on ``device``: the shape of OMP's correlation step for one block of targets."""
    torch.manual_seed(0)
    left, right = torch.randn(rows, width, device=device), torch.randn(atoms, width, device=device)
    products = {
        "float32": (left, right.T.contiguous(), torch.mm),
        "bfloat16": (left.bfloat16(), right.T.contiguous().bfloat16(), torch.mm),
        "int8": (
            left.clamp(-1, 1).mul(127).to(torch.int8),
            right.clamp(-1, 1).mul(127).to(torch.int8).T,
            torch._int_mm,
        ),
    }
    rates = {}
    for name, (a, b, product) in products.items():
        try:
            product(a, b)
        except RuntimeError:  # e.g. no int8 product for this shape on this device
            continue
        sync(device)
        start, repeats = time.perf_counter(), 5 if device == "cpu" else 50
        for _ in range(repeats):
            product(a, b)
        sync(device)
        rates[name] = 2 * rows * width * atoms * repeats / (time.perf_counter() - start) / 1e9
    return rates


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def warm_page_cache(*model_dirs: Path) -> None:
    """Read the weights once, so the first timed run does not pay for a cold disk cache."""
    for model_dir in model_dirs:
        for path in set(weight_files(model_dir).values()):
            with open(path, "rb") as handle:
                while handle.read(64 << 20):
                    pass


def machine(device: str) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown CPU",
    )
    memory = next(
        (int(line.split()[1]) / 2**20 for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line),
        0.0,
    )
    used = "no GPU used (--device cpu)"
    if device == "cuda":
        used = f"GPU: {torch.cuda.get_device_name(0)} (--device cuda)"
    return f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB RAM, {used}"


def print_table(runs: list[Run], rows: list[tuple[str, list[str]]]) -> None:
    print("| measure | " + " | ".join(run.label for run in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for name, values in rows:
        print(f"| {name} | " + " | ".join(values) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="gemma3-270m", help="model preset whose weights are kept")
    parser.add_argument("--donor", default="smollm2-135m", help="model preset whose tokenizer the base gets")
    parser.add_argument("--k", type=int, default=64, help="OMP anchors per new token")
    parser.add_argument("--limit", type=int, default=40, help="score the last N lee_background articles")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where both tools run (default cpu)")
    parser.add_argument("--skip-mergekit", action="store_true", help="run vocablab only")
    parser.add_argument(
        "--match", nargs="+", choices=["string", "bytes"], default=["string", "bytes"], help="vocablab's runs"
    )
    parser.add_argument("--mergekit", type=Path, help="a mergekit-tokensurgeon script to run instead of installing one")
    parser.add_argument("--keep", type=Path, help="write the models and logs here and keep them (default: a temp dir)")
    args = parser.parse_args()
    started = time.perf_counter()
    base_dir, donor_dir = ensure_preset(args.base), ensure_preset(args.donor)
    documents = read_documents(ensure_text("lee_background"))[-args.limit :]
    paragraphs = ["\n\n".join(documents[i : i + 10]) for i in range(0, len(documents), 10)]

    with tempfile.TemporaryDirectory() as temp:
        work = args.keep or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        vocablab = [sys.executable, "-m", "vocablab", "transplant", "--base", str(base_dir), "--donor", str(donor_dir)]
        runs = [
            Run(
                f"vocablab ({match})",
                [*vocablab, "--out", str(work / f"vocablab-{match}"), "--k", str(args.k), "--method", "omp"]
                + ["--match", match, "--device", args.device],
                work / f"vocablab-{match}",
            )
            for match in args.match
        ]
        install_seconds = 0.0
        if not args.skip_mergekit:
            script, install_seconds = (args.mergekit, 0.0) if args.mergekit else mergekit_venv(work)
            out = work / "mergekit"
            command = [str(script), str(base_dir), str(donor_dir), str(out), "--approximation-method", "omp"]
            command += ["--k", str(args.k), "--prefix-match", "no", "--byte-match", "no", "--device", args.device, "-v"]
            runs.append(Run(f"mergekit {MERGEKIT_VERSION}", command, out))

        warm_page_cache(base_dir, donor_dir)
        for run in runs:
            print(f"running {run.label} ...", file=sys.stderr)
            log = work / f"{run.out.name}.log"
            shutil.rmtree(run.out, ignore_errors=True)  # a kept folder from an earlier run
            run.seconds, run.peak_mib, run.cpu_seconds, run.other_cpu_seconds = measure(run.command, log)
            if run.label.startswith("vocablab"):
                report = json.loads((run.out / REPORT).read_text())
                counts, run.omp_seconds = report["counts"], report["phase_seconds"]["embed"]
                run.omp_products = report["omp_products"].get("embed", "")
                run.new_tokens = counts["approximated"]
                run.atoms = counts["exact"] + counts["bytes"]
                run.copied_tokens = run.atoms + counts["special"]
            else:
                run.new_tokens, run.copied_tokens = mergekit_counts(log)

        base_score = bits_per_byte(str(base_dir), documents, device=args.device)
        base_paragraphs = bits_per_byte(str(base_dir), paragraphs, device=args.device)
        for run in runs:
            run.bits_per_byte = bits_per_byte(str(run.out), documents, device=args.device).bits_per_byte
            run.bits_per_byte_paragraphs = bits_per_byte(str(run.out), paragraphs, device=args.device).bits_per_byte
        if not args.skip_mergekit:
            base_rows = embedding(base_dir)
            ours, theirs = runs[:-1], runs[-1]
            for run in ours:
                run.agreement = agreement(run.out, theirs.out, base_rows)

    reference = base_score.bits_per_byte
    width = EmbeddingRows(donor_dir, find_embeddings(donor_dir)[0]).shape[1]
    block = 2048 if args.device == "cuda" else 256  # OMP's targets per correlation product
    atoms = max(run.atoms for run in runs)
    rates = gemm_rates(block, width, atoms, args.device)

    def omp_rate(run: Run) -> str:
        if not run.omp_seconds:
            return "-"
        flops = 2 * run.new_tokens * run.atoms * width * args.k  # the correlation products
        rate = flops / run.omp_seconds / 1e9
        shares = ", ".join(f"{rate / rates[name]:.0%} of {name}" for name in ("float32", "bfloat16") if name in rates)
        return f"{run.omp_seconds:.1f} s ({run.omp_products}), {rate:.0f} GFLOP/s = {shares}"

    def speedup(run: Run) -> str:
        theirs = [other for other in runs if other.label.startswith("mergekit")]
        return f"{theirs[0].seconds / run.seconds:.2f}x" if theirs and run not in theirs else "-"

    rows = [
        ("transplant wall time, whole process (s)", [f"{run.seconds:.1f}" for run in runs]),
        ("speed-up over mergekit (wall time)", [speedup(run) for run in runs]),
        ("OMP step: time, correlation rate, share of a plain GEMM", [omp_rate(run) for run in runs]),
        ("CPU time of the transplant (s)", [f"{run.cpu_seconds:.1f}" for run in runs]),
        ("CPU time of other processes meanwhile (s)", [f"{run.other_cpu_seconds:.1f}" for run in runs]),
        ("peak memory, max RSS (MiB)", [f"{run.peak_mib:,.0f}" for run in runs]),
        ("new tokens (approximated)", [f"{run.new_tokens:,}" for run in runs]),
        ("copied tokens (exact, bytes, special)", [f"{run.copied_tokens:,}" for run in runs]),
        ("bits per byte", [f"{run.bits_per_byte:.4f}" for run in runs]),
        (
            f"change vs {args.base} with its own tokenizer ({reference:.4f})",
            [f"{run.bits_per_byte - reference:+.4f}" for run in runs],
        ),
        (
            "bits per byte, the same articles 10 to a document, blank line between",
            [f"{run.bits_per_byte_paragraphs:.4f}" for run in runs],
        ),
        (
            f"change vs {args.base} with its own tokenizer ({base_paragraphs.bits_per_byte:.4f})",
            [f"{run.bits_per_byte_paragraphs - base_paragraphs.bits_per_byte:+.4f}" for run in runs],
        ),
    ]
    for name in dict.fromkeys(name for run in runs for name in run.agreement):
        rows.append((name, [run.agreement.get(name, "-") for run in runs]))

    n_bytes = sum(len(d.encode()) for d in documents)
    print(
        f"{args.base} with {args.donor}'s tokenizer, OMP k={args.k}; text: last {len(documents)} lee_background "
        f"articles ({n_bytes:,} bytes)\n"
    )
    print_table(runs, rows)
    print(
        f"\nplain ({block} x {width}) @ ({width} x {atoms:,}) product on this machine, same run: "
        + ", ".join(f"{name} {rate:.0f} G{'OP' if name == 'int8' else 'FLOP'}/s" for name, rate in rates.items())
    )
    print(f"machine: {machine(args.device)}; torch {metadata.version('torch')} (mergekit runs on the same version)")
    print("commands (each timed in its own process, with HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1):")
    for run in runs:
        print(f"  {run.label}: {shlex.join(run.command)}")
    if install_seconds:
        print(f"mergekit virtual environment installed in {install_seconds:.0f} s (not in the times above)")
    print(f"whole benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
