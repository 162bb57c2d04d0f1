"""Bad input through the running app, as a visitor's ``gradio_client`` sends it: each case gets a clear
message (never a traceback), and the app answers the next visitor. The app runs with a file-size
limit (``RLIMIT_FSIZE``), so a transplant's write fails the way a full disk fails it, and with a
2 GB limit on what its users may keep, and a queue of 2."""

from __future__ import annotations

import sys

import pytest

from vocablab.options import MAX_TEXT_CHARS
from vocablab.presets import DEFAULT_MODELS

from .app_server import serve_app, visitor
from .conftest import tiny_llama

pytestmark = pytest.mark.e2e  # runs the app

FILE_LIMIT = 300 * 2**20  # bytes one file may have: the transplanted Gemma (about 510 MB) does not fit
SMOLLM, GEMMA = DEFAULT_MODELS
TEXT = "The café's 2024 revenue grew 12.5% to $1,234,567.89"
LIMITED_APP = (
    "import resource, runpy, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    f"resource.setrlimit(resource.RLIMIT_FSIZE, ({FILE_LIMIT}, {FILE_LIMIT})); "
    "runpy.run_path('app.py', run_name='__main__')"
)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    work = tmp_path_factory.mktemp("bad-input-app")
    env = {
        "HF_HUB_OFFLINE": "1",
        "VOCABLAB_WORKDIR": str(work / "runs"),
        "VOCABLAB_RUNS_MAX_GB": "2",
        "VOCABLAB_QUEUE_SIZE": "2",
    }
    with serve_app(env=env, log=work / "app.log", command=[sys.executable, "-c", LIMITED_APP], timeout=180) as url:
        yield visitor(url), work


def refused(client, *args, api_name: str) -> str:
    """The message of a call that must fail; then the app must still serve the tokenizer view."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as error:
        client.predict(*args, api_name=api_name)
    message = str(error.value)
    assert "Traceback" not in message and "Something went wrong" not in message, message
    _, summary, *_ = client.predict(TEXT, False, SMOLLM, GEMMA, None, None, api_name="/tokenize_side_by_side")
    assert len(summary["data"]) == 2
    return message


def test_empty_and_oversized_text(app):
    client, _ = app
    assert "empty" in refused(client, " \n", False, SMOLLM, GEMMA, None, None, api_name="/tokenize_side_by_side")
    huge = "x" * (MAX_TEXT_CHARS + 1)
    message = refused(client, huge, False, SMOLLM, GEMMA, None, None, api_name="/tokenize_side_by_side")
    assert f"{MAX_TEXT_CHARS:,}" in message


def test_an_uploaded_file_that_is_not_utf8(app, tmp_path):
    from gradio_client import handle_file

    client, _ = app
    latin1 = tmp_path / "notes.txt"
    latin1.write_bytes("Prix: 12,50 € au café\n".encode("cp1252"))
    message = refused(client, handle_file(str(latin1)), api_name="/read_upload")
    assert "not UTF-8" in message and "position 12" in message  # "€" is byte 0x80 in cp1252, at offset 12
    utf8 = tmp_path / "good.txt"
    utf8.write_text("Prix: 12,50 € au café\n", encoding="utf-8")
    assert client.predict(handle_file(str(utf8)), api_name="/read_upload") == "Prix: 12,50 € au café\n"


def test_a_corrupt_gguf_and_a_mismatched_vocabulary(app, tmp_path):
    client, _ = app
    corrupt = tmp_path / "model.gguf"
    corrupt.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    message = refused(client, TEXT, False, str(corrupt), GEMMA, None, None, api_name="/tokenize_side_by_side")
    assert "not a readable GGUF file" in message
    mismatched = tiny_llama("gpt2", tmp_path / "mismatched", tied=True, rows=1000)
    args = [str(mismatched), SMOLLM, "hello", False, True, "bytes", 4, 4, False, False, 1.0, 1.0, 0, 8, 0.5, "A as is"]
    message = refused(client, *args, api_name="/run_all")
    assert "do not belong together" in message and "1,000 rows" in message


def test_number_boxes_empty_or_out_of_range_get_messages_that_name_them(app):
    client, _ = app

    def generation(maxlen, k):
        args = [SMOLLM, GEMMA, "hello", False, True, "maxlen:N", maxlen, k, False, False, 1.0, 1.0, 0, 8, 0.5]
        return refused(client, *args, "A as is", api_name="/run_all")

    assert "'N (maxlen)' is empty" in generation(None, 300)
    assert "maxlen:N needs a whole number N of at least 1" in generation(0, 300)
    assert "maxlen:N needs a whole number N of at least 1" in generation(-2, 300)
    assert "'K' is empty" in generation(4, None)
    assert "K (next tokens kept per cover entry) must be at least 1" in generation(4, 0)

    def alignment(temperature, reg):
        args = [SMOLLM, GEMMA, "The cat sat.", 5, "edit", "bytes", temperature, reg, ""]
        return refused(client, *args, api_name="/run_align")

    assert "'temperature' is empty" in alignment(None, 0.05)
    assert "the temperature must be a positive number" in alignment(0, 0.05)
    assert "'Sinkhorn regularization' is empty" in alignment(1.0, None)
    assert "the Sinkhorn regularization must be a positive number" in alignment(1.0, -1)
    assert "the Sinkhorn regularization must be at least 0.005" in alignment(1.0, 1e-9)  # NaN plans before


def test_a_bad_model_while_typing_numbers_is_said_under_the_highlight_not_in_a_toast(app):
    client, _ = app
    marked, note = client.predict("no-such-org/x", GEMMA, "price 12345", api_name="/highlight_view")
    assert note.startswith("⚠️") and "no-such-org/x" in note, note
    assert not marked
    # SmolLM2 splits 12345 digit by digit, Llama 3 into 123|45
    marked, note = client.predict(SMOLLM, "llama3", "price 12345", api_name="/highlight_view")
    assert note == "1 number found; 1 split differently (highlighted)."


def test_a_full_disk_during_a_transplant_keeps_nothing_half_written(app):
    client, work = app
    message = refused(client, GEMMA, SMOLLM, 8, "mean", "bytes", api_name="/run_transplant")
    assert "disk is full" in message and str(work) not in message
    assert [p for p in (work / "runs").rglob("*") if p.is_file()] == []  # the partial output was removed
    # over the limit on what users keep (SmolLM2 with Gemma's 262,144 rows: about 2.9 GB), refused first
    message = refused(client, SMOLLM, GEMMA, 8, "mean", "bytes", api_name="/run_transplant")
    assert "more than this server keeps" in message


def test_a_transplant_pair_is_checked_before_it_runs(app):
    client, _ = app
    # a tokenizer-only donor: OMP reads the donor's embeddings (the mean method would not)
    assert "tokenizer-only" in refused(client, GEMMA, "mistral", "omp", api_name="/check_pair")
    assert "nobody/nothing" in refused(client, "nobody/nothing", SMOLLM, "mean", api_name="/check_pair")
    client.predict(GEMMA, "mistral", "mean", api_name="/check_pair")  # still serving; this pair is fine


def test_past_the_queue_a_visitor_is_told_to_retry(app):
    import time

    client, _ = app
    args = [SMOLLM, GEMMA, "The capital of France is", False, True, "bytes", 4, 8, False, False, 1.0, 1.0, 0, 4, 0.5]
    visitors = [visitor(client.src) for _ in range(6)]
    jobs = [guest.submit(*args, api_name="/run_all") for guest in visitors]  # one model run at a time
    deadline = time.monotonic() + 60
    while sum(job.done() for job in jobs) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    turned_away = [str(job.exception()) for job in jobs if job.done()]
    waiting = [job for job in jobs if not job.done()]
    for job in waiting:
        job.cancel()
    assert len(turned_away) >= 3 and all("queue is full" in m.lower() for m in turned_away), turned_away
    assert waiting  # the queue held the others
    _, summary, *_ = client.predict(TEXT, False, SMOLLM, GEMMA, None, None, api_name="/tokenize_side_by_side")
    assert len(summary["data"]) == 2
