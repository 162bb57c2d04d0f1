"""Time how long vocablab takes to start: the CLI's cheap commands and the web app.

    python benchmarks/bench_startup.py [--runs 10] [--app-runs 3] [--make]

Prints a table of wall times in seconds (median and min): `vocablab --help` and `vocablab presets`
(the console script next to this Python), and the time from starting the app (`python app.py` on
a free port, as `make app` does after installing) to its first HTTP 200 on `/`. The default
presets must already be cached (`make presets`), so no fetch is timed. With --make the app is
started with `make app PYTHON=<this python>` instead, which first runs `pip install` (torch and
an editable vocablab): that time is included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from vocablab.presets import DEFAULT_MODELS, is_cached

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests/app_server.py
from tests.app_server import serve_app  # noqa: E402

CONSOLE_SCRIPT = Path(sys.executable).parent / "vocablab"


def time_command(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if run.returncode != 0:
            sys.exit(f"{' '.join(argv)} exited with {run.returncode}:\n{run.stderr[-2000:]}")
    return times


def time_app_start(use_make: bool, timeout: float) -> float:
    """Seconds from starting the app to the first HTTP 200 on `/`; the app is stopped afterwards."""
    command = ["make", "app", f"PYTHON={sys.executable}"] if use_make else None
    start = time.perf_counter()
    with serve_app(command=command, timeout=timeout):
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each CLI command (default 10)")
    parser.add_argument("--app-runs", type=int, default=3, help="app starts (default 3)")
    parser.add_argument("--make", action="store_true", help="start the app with `make app` (installs first)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for one app start")
    args = parser.parse_args()
    missing = [name for name in DEFAULT_MODELS if not is_cached(name)]
    if missing:
        sys.exit(f"presets not cached: {', '.join(missing)}; run `make presets` first")
    if not CONSOLE_SCRIPT.is_file():
        sys.exit(f"no console script {CONSOLE_SCRIPT}: install vocablab into this environment first")

    rows = [
        ("vocablab --help", time_command([str(CONSOLE_SCRIPT), "--help"], args.runs)),
        ("vocablab presets", time_command([str(CONSOLE_SCRIPT), "presets"], args.runs)),
    ]
    app = "make app (install + app.py)" if args.make else "python app.py"
    rows.append((f"{app} to first 200 on /", [time_app_start(args.make, args.timeout) for _ in range(args.app_runs)]))

    print(f"python {sys.version.split()[0]} at {sys.executable}; {os.cpu_count()} CPUs")
    print(f"{'what':42} {'runs':>4} {'median s':>9} {'min s':>7}")
    for what, times in rows:
        print(f"{what:42} {len(times):>4} {statistics.median(times):9.2f} {min(times):7.2f}")


if __name__ == "__main__":
    main()
