"""How the light views answer many visitors while a transplant runs: bounded gradio_client traffic
to 127.0.0.1 only.

    python benchmarks/load_test.py [--users 8 32] [--calls 3] [--url http://127.0.0.1:7860/]

Starts ``app.py`` on a free local port (or uses ``--url``), warms the default models' tokenizers,
and keeps an OMP transplant of the view's default pair (Gemma-3-270M with SmolLM2's tokenizer)
running, one after another, for the whole test.
For each user count, every user (its own client, its own session) makes ``--calls`` calls of each
light view, in turn: the tokenizer view, the numbers view and the token search, with a random
pause of 0.1-1 s between calls. Each call's text (or search) is its own: a random slice of the
sample text with a random number added, so no cache of earlier answers can serve it.
Prints, per user count and view: calls, failures, and the median, 95th percentile and maximum
latency, as a Markdown table for docs/benchmarks.md; then how many transplants ran meanwhile, the
CPU and the load average before and after (a busy machine makes every figure larger).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path

from vocablab.presets import DEFAULT_MODELS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests/app_server.py
from tests.app_server import serve_app, visitor  # noqa: E402

TEXT = (
    "On 2024-03-15 the committee approved a budget of $1,234,567.89, up 12.5% from last year. "
    "Les élèves ont lu 42 pages; 東京の人口は約1,400万人です。 Emoji: 🙂🚀. "
) * 3
A, B = DEFAULT_MODELS
VIEWS = {  # endpoint, and the arguments of one call given a text and a search
    "tokenizers": ("/tokenize_side_by_side", lambda text, query: (text, False, A, B, None, None)),
    "numbers": ("/compare_numbers_view", lambda text, query: (A, B, text)),
    "token search": ("/search_tokens", lambda text, query: (query, "only in first", A, B)),
}


def varied_text(rng: random.Random) -> str:
    """A slice of the sample text at a random place and of a random length, with a random number
    added: each call tokenizes a text no earlier call did."""
    start = rng.randrange(len(TEXT) // 2)
    piece = TEXT[start : start + rng.randrange(80, len(TEXT) - start + 1)]
    return f"{piece} Ref. {rng.randrange(10**7):,}-{rng.choice('ABCDEFGH')}{rng.randrange(100)}."


def varied_query(rng: random.Random) -> str:
    """Two to four letters of a word of the sample text."""
    word = rng.choice([w for w in TEXT.split() if len(w) >= 4])
    size = rng.randint(2, 4)
    start = rng.randrange(len(word) - size + 1)
    return word[start : start + size]


def keep_transplanting(url: str, stop: threading.Event, done: list[float]) -> None:
    """Run transplants of the default pair back to back until ``stop``; record each one's seconds."""
    transplanter = visitor(url)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            transplanter.predict(B, A, 64, "omp", "bytes", api_name="/run_transplant")  # the view's default pair
        except Exception:  # noqa: BLE001 - the server stopping under it at the end
            return
        done.append(time.perf_counter() - started)


def user(url: str, calls: int, seed: int, latencies: dict[str, list[float]], failures: dict[str, int]) -> None:
    rng = random.Random(seed)
    try:
        guest = visitor(url)
    except Exception:  # noqa: BLE001 - a visitor who cannot even open the page: every call of theirs failed
        for view in VIEWS:
            failures[view] += calls
        return
    for _ in range(calls):
        for view, (endpoint, arguments) in VIEWS.items():
            time.sleep(rng.uniform(0.1, 1.0))
            call = arguments(varied_text(rng), varied_query(rng))
            started = time.perf_counter()
            try:
                guest.predict(*call, api_name=endpoint)
            except Exception:  # noqa: BLE001 - a dropped or failed call is counted, not raised
                failures[view] += 1
                continue
            latencies[view].append(time.perf_counter() - started)


def alone_latency(guest, rng: random.Random, calls: int = 5) -> list[float]:
    """Each view's median latency for one visitor while nothing else runs: the machine's own speed
    (on a machine shared with other work, the ratio of the table's figures to these says more)."""
    medians = []
    for endpoint, arguments in VIEWS.values():
        times = []
        for _ in range(calls):
            call = arguments(varied_text(rng), varied_query(rng))
            started = time.perf_counter()
            guest.predict(*call, api_name=endpoint)
            times.append(time.perf_counter() - started)
        medians.append(statistics.median(times))
    return medians


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--calls", type=int, default=3, help="calls of each view per user")
    parser.add_argument("--url", help="an app already running on 127.0.0.1 (default: start app.py)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vocablab-load-"))
    env = {"VOCABLAB_WORKDIR": str(work / "runs"), "HF_HUB_OFFLINE": "1"}
    server = nullcontext(args.url) if args.url else serve_app(env=env, log=work / "app.log")
    with server as url:
        warm = visitor(url)
        for endpoint, arguments in VIEWS.values():
            warm.predict(*arguments(TEXT, "ing"), api_name=endpoint)  # tokenizers loaded once, as on a running server
        alone = alone_latency(warm, random.Random(-1))
        stop, transplants = threading.Event(), []
        worker = threading.Thread(target=keep_transplanting, args=(url, stop, transplants), daemon=True)
        worker.start()
        time.sleep(10)  # the transplant is past loading its tokenizers
        load_before = os.getloadavg()
        print(f"light views while OMP transplants of {A}'s tokenizer onto {B} run; latency in seconds\n")
        print("| users | view | calls | failed | median | p95 | max |\n|---|---|---|---|---|---|---|")
        print(f"| 1, no transplant | {' / '.join(VIEWS)} | 5 each | | {' / '.join(f'{t:.2f}' for t in alone)} | | |")
        for users in args.users:
            latencies = {view: [] for view in VIEWS}
            failures = dict.fromkeys(VIEWS, 0)
            threads = [
                threading.Thread(target=user, args=(url, args.calls, n, latencies, failures)) for n in range(users)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for view, values in latencies.items():
                stats = f"{statistics.median(values):.2f} | {p95(values):.2f} | {max(values):.2f}" if values else "| |"
                print(f"| {users} | {view} | {len(values) + failures[view]} | {failures[view]} | {stats} |")
        busy = worker.is_alive()
        stop.set()
        print(
            f"\ntransplants finished meanwhile: {len(transplants)} "
            f"({', '.join(f'{s:.0f} s' for s in transplants)}); one still running at the end: {busy}"
        )  # the server stops with the one still running
        print(f"{cpu_model()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}".format(*load_before))
        print("load average (1, 5, 15 min) after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def cpu_model() -> str:
    """The CPU's model name, and whether it has AVX512-BF16 (the transplant's speed depends on it)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "CPU")
    return f"{name} ({'with' if 'avx512_bf16' in info else 'without'} AVX512-BF16)"


if __name__ == "__main__":
    main()
