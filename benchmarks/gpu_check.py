"""Re-measure every GPU figure of docs/benchmarks.md on a lent GPU machine, in under 8 minutes.

The device machine has its own torch and transformers, no package index, and takes at most 64 MiB
of files per call, while the two preset models' GGUF files are 317 MB. So the files travel in
folders of at most 56 MiB, one device call each, staged on the machine (it keeps ignored files
between calls while it is warm), and the presets are built there from the sha256-checked GGUF:

    python benchmarks/gpu_check.py prepare              # here, once: .gpu-carry/00, 01, ... (git-ignored)
    # on the device, one call per folder, back to back, carry=[".gpu-carry/NN"]:
    python3 benchmarks/gpu_check.py receive             # moves the folder's files into .gpu-stage/
    # then, in one call (no carry):
    python3 benchmarks/gpu_check.py run --device cuda   # builds the presets, runs every GPU benchmark

    python benchmarks/gpu_check.py run --device cpu --quick   # here: the same steps, small sizes

``run`` prints each benchmark's table as it comes, then how long each step took; with ``$OUT`` set
(the device tool's output folder) each step's log is written there too. ``--full`` adds mergekit in
the reverse direction (about three more minutes on an H100).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARRY, STAGE = ROOT / ".gpu-carry", ROOT / ".gpu-stage"
CHUNK = 56 << 20  # one device call carries at most 64 MiB, the working tree included
MERGEKIT_WHEELS = [  # mergekit-tokensurgeon and what it needs that the device image lacks
    "mergekit==0.1.5",
    "pydantic==2.14.4",
    "pydantic-core==2.50.5",
    "annotated-types==0.8.0",
    "typing-inspection==0.4.5",
    "immutables==0.21",
]
OTHER_WHEELS = ["gguf==0.19.0"]  # to build the presets from their GGUF files
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def prepare() -> None:
    """Fill .gpu-carry/NN with the wheels, the evaluation text and the GGUF files cut into pieces."""
    import tempfile

    from vocablab.presets import MODEL_PRESETS, ensure_text, fetch_gguf

    shutil.rmtree(CARRY, ignore_errors=True)
    files = CARRY / "files"
    (files / "wheels").mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", files / "wheels"]
    target = ["--python-version", "3.12", "--implementation", "cp", *[f"--platform={p}" for p in PLATFORMS]]
    subprocess.run([*map(str, pip), *target, *MERGEKIT_WHEELS, *OTHER_WHEELS], check=True)
    shutil.copy(ensure_text("lee_background"), files / "lee_background.txt")
    for name, preset in MODEL_PRESETS.items():  # downloaded again: the cache keeps safetensors, not GGUF
        with tempfile.TemporaryDirectory() as work:
            _cut(fetch_gguf(preset, Path(work)), files / f"{name}.gguf")
    _pack(files)
    print(f"{len(list(CARRY.iterdir()))} folders in {CARRY}; carry each in its own device call, in order")


def _cut(path: Path, stem: Path) -> list[Path]:
    """``path`` cut into pieces of at most CHUNK bytes, named stem.000, stem.001, ..."""
    out = []
    with open(path, "rb") as source:
        while block := source.read(CHUNK):
            piece = stem.with_name(f"{stem.name}.{len(out):03d}")
            piece.write_bytes(block)
            out.append(piece)
    return out


def _pack(files: Path) -> None:
    """Spread the files over folders of at most CHUNK bytes (first fit, in order)."""
    folders: list[list[Path]] = []
    sizes: list[int] = []
    for path in sorted(p for p in files.rglob("*") if p.is_file()):
        size = path.stat().st_size
        slot = next((i for i, used in enumerate(sizes) if used + size <= CHUNK), None)
        if slot is None:
            folders.append([])
            sizes.append(0)
            slot = len(folders) - 1
        folders[slot].append(path)
        sizes[slot] += size
    for i, paths in enumerate(folders):
        for path in paths:
            dest = CARRY / f"{i:02d}" / path.relative_to(files)
            dest.parent.mkdir(parents=True, exist_ok=True)
            path.rename(dest)
    shutil.rmtree(files)


def receive() -> None:
    """Move every carried folder's files into .gpu-stage/ (kept between calls while the machine is warm)."""
    moved = 0
    for path in sorted(p for p in CARRY.rglob("*") if p.is_file()):
        dest = STAGE / path.relative_to(CARRY).relative_to(path.relative_to(CARRY).parts[0])
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, dest)
        moved += 1
    staged = sum(p.stat().st_size for p in STAGE.rglob("*") if p.is_file()) if STAGE.exists() else 0
    print(f"received {moved} files; {staged / 2**20:.0f} MiB staged in {STAGE}")


def stage_presets() -> None:
    """On the device: install the carried wheels and build the presets from the staged files."""
    site = STAGE / "site"
    wheels = sorted((STAGE / "wheels").glob("*.whl"))
    if wheels and not site.exists():
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
        subprocess.run([*pip, "--target", str(site), *map(str, wheels)], check=True)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ["PATH"] = f"{site / 'bin'}{os.pathsep}{os.environ['PATH']}"
    os.environ["VOCABLAB_CACHE"] = str(STAGE / "cache")
    sys.path[:0] = [str(site), str(ROOT)]
    from vocablab.presets import MODEL_PRESETS, install_model_preset, is_cached

    texts = STAGE / "cache" / "texts"
    texts.mkdir(parents=True, exist_ok=True)
    shutil.copy(STAGE / "lee_background.txt", texts / "lee_background.txt")
    for name in MODEL_PRESETS:
        if not is_cached(name):
            gguf = STAGE / f"{name}.gguf"
            with open(gguf, "wb") as sink:
                for piece in sorted(STAGE.glob(f"{name}.gguf.[0-9][0-9][0-9]")):
                    sink.write(piece.read_bytes())
            install_model_preset(name, gguf)
            gguf.unlink()


def steps(device: str, quick: bool, full: bool) -> list[tuple[str, list[str], int]]:
    """(title, command, seconds allowed) of every GPU figure in docs/benchmarks.md."""
    mergekit = ["--mergekit", shutil.which("mergekit-tokensurgeon") or "missing"]
    if quick or device == "cpu":
        mergekit = ["--skip-mergekit"]  # on a CPU vs_mergekit.py installs mergekit itself: run it alone
    on = ["--device", device]
    small = ["--k", "8", "--limit", "1"] if quick else []
    reverse = ["--base", "smollm2-135m", "--donor", "gemma3-270m"]
    reduce = ["bench_reduce.py", *on, "--exact-bytes", "0", "--docs", "10", "--bytes", "32"]
    out = [
        ("transplant: gemma3-270m with smollm2-135m's tokenizer", ["vs_mergekit.py", *on, *small, *mergekit], 200),
        (
            "transplant: smollm2-135m with gemma3-270m's tokenizer",
            ["vs_mergekit.py", *on, *reverse, "--match", "bytes", *small, *(mergekit if full else ["--skip-mergekit"])],
            420 if full else 150,
        ),
        ("reduction and ensembles", reduce, 200),
        ("the generation view's handler", ["bench_generate_view.py"], 120),  # the app's model cache picks the GPU
    ]
    if not quick:
        return out
    # a CPU: the reverse transplant would take about an hour, so OMP is timed on a sample; small sizes, and
    # room for a busy CI machine
    out[1] = (out[1][0] + " (64 tokens)", ["bench_transplant.py", *on, *reverse, "--k", "8", "--sample", "64"], 0)
    out[2][1].extend(["--bytes", "8", "--ks", "300", "--subvocabs", "bytes,mcv", "--docs", "1"])
    out[3][1].extend(["--max-new-bytes", "4"])
    return [(title, command, 600) for title, command, _ in out]


def run(device: str, quick: bool, full: bool) -> int:
    if STAGE.exists():
        stage_presets()
    out_dir = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    timings, failed = [], 0
    for title, command, limit in steps(device, quick, full):
        print(f"\n## {title}\n$ python benchmarks/{' '.join(command)}", flush=True)
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, str(ROOT / "benchmarks" / command[0]), *command[1:]],
                capture_output=True,
                text=True,
                timeout=limit,
            )
            log, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as stopped:
            partial = stopped.stdout.decode(errors="replace") if isinstance(stopped.stdout, bytes) else stopped.stdout
            log, code = f"{partial or ''}\nstopped after {limit} s", "timeout"
        print(log if code != 0 else _stdout_only(log, command), flush=True)
        seconds = time.perf_counter() - started
        timings.append((title, seconds, code))
        failed += code != 0
        if out_dir:
            (out_dir / f"{len(timings):02d}.log").write_text(f"$ {' '.join(command)}\n{log}")
    print("\n## steps\n| step | seconds | exit |\n|---|---|---|")
    for title, seconds, code in timings:
        print(f"| {title} | {seconds:.0f} | {code} |")
    print(json.dumps({"device": _device_name(device), "failed": failed}))
    return 1 if failed else 0


def _stdout_only(log: str, command: list[str]) -> str:
    """The tables, without progress bars and warnings (they are in $OUT's logs)."""
    return "\n".join(line for line in log.splitlines() if "it/s]" not in line and "Warning" not in line)


def _device_name(device: str) -> str:
    import torch

    if device == "cuda" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    flags = open("/proc/cpuinfo").read()
    return f"{cpu}, {os.cpu_count()} threads, {'with' if 'avx512_bf16' in flags else 'without'} AVX512-BF16"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["prepare", "receive", "run"])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the script, measures nothing")
    parser.add_argument("--full", action="store_true", help="mergekit in the reverse direction too")
    args = parser.parse_args()
    if args.action == "prepare":
        prepare()
    elif args.action == "receive":
        receive()
    else:
        return run(args.device, args.quick, args.full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
