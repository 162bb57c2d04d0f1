"""The hub path against a real hub server: ``olah`` on 127.0.0.1 serves local git repositories as hub
repositories (two presets' tokenizers under their hub names, tiny real-architecture models, a
repository of pickles only, a tokenizer with two revisions, a gated repository), and the real ``huggingface_hub``
client reaches it through ``HF_ENDPOINT``. Through the CLI, and through the app in public mode
(``gradio_client`` and the browser). A hub token is set all along and must never show."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from vocablab.presets import preset_dir
from vocablab.sources import TOKENIZER_FILES, load_vocabulary

from .app_server import serve_app, visitor
from .conftest import chromium_page, tiny_llama
from .hub_server import hub_repo, serve_hub

pytestmark = pytest.mark.e2e  # a hub server and the app

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA = "google/gemma-3-270m"
TINY_GPT2 = "vocablab-test/tiny-llama-gpt2"
TINY_MISTRAL = "vocablab-test/tiny-llama-mistral"
PICKLES = "vocablab-test/pickles-only"
REVISIONS = "vocablab-test/tokenizer-revisions"
GATED = "vocablab-test/gated"  # the gate in front of olah serves its files only with SECRET, as the hub would
CUSTOM = "vocablab-test/custom-code"  # its config names Python code of its own, which writes a marker
SECRET = "hf_vocablabTestToken0123456789abcdef"
TEXT = "The café's 2024 revenue grew 12.5% to $1,234,567.89"


@dataclass
class Hub:
    url: str
    work: Path
    revisions: list[str]  # REVISIONS' commits: the gpt2 tokenizer, then mistral's

    def env(self, cache: str = "hf-cache") -> dict[str, str]:
        return {
            "HF_ENDPOINT": self.url,
            "HF_HOME": str(self.work / "hf-home"),
            "HF_HUB_CACHE": str(self.work / cache),
            "HF_TOKEN": SECRET,
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_OFFLINE": "0",
        }

    def snapshot_files(self, repo_id: str, cache: str = "hf-cache") -> set[str]:
        folder = self.work / cache / f"models--{repo_id.replace('/', '--')}" / "snapshots"
        return {p.name for p in folder.glob("*/*")}


def files_of(folder: Path, names) -> dict[str, Path]:
    return {name: folder / name for name in names if (folder / name).is_file()}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    work = tmp_path_factory.mktemp("hub")
    mirrors, models = work / "mirrors", work / "models"
    meta = [*TOKENIZER_FILES, "generation_config.json"]
    for repo_id, preset in ((SMOLLM2, "smollm2-135m"), (GEMMA, "gemma3-270m")):  # weights left out: 1.6 GB
        hub_repo(mirrors, repo_id, files_of(preset_dir(preset), meta))
    gpt2 = tiny_llama("gpt2", models / "gpt2", tied=True)
    pickle = {"pytorch_model.bin": b"a pickle: never downloaded, never loaded"}
    hub_repo(mirrors, TINY_GPT2, {**files_of(gpt2, [*meta, "model.safetensors"]), **pickle})
    mistral = tiny_llama("mistral", models / "mistral", tied=False, seed=1)
    hub_repo(mirrors, TINY_MISTRAL, files_of(mistral, [*meta, "model.safetensors"]))
    hub_repo(mirrors, PICKLES, {**files_of(gpt2, meta), **pickle})
    hub_repo(mirrors, GATED, files_of(gpt2, [*meta, "model.safetensors"]))
    tokenizers = ["tokenizer.json", "tokenizer_config.json"]
    revisions = hub_repo(mirrors, REVISIONS, files_of(gpt2, tokenizers), files_of(mistral, tokenizers))
    config = json.loads((gpt2 / "config.json").read_text())
    config |= {"architectures": ["CustomForCausalLM"], "model_type": "vocablab_custom"}
    config["auto_map"] = {"AutoConfig": "custom.CustomConfig", "AutoModelForCausalLM": "custom.CustomForCausalLM"}
    code = f"from pathlib import Path\nPath({str(work / 'custom-code-ran')!r}).touch()\n"
    custom = {"config.json": json.dumps(config).encode(), "custom.py": code.encode()}
    hub_repo(mirrors, CUSTOM, {**files_of(gpt2, [*tokenizers, "model.safetensors"]), **custom})
    with serve_hub(mirrors, work, probe_repo=SMOLLM2, gated=(GATED,), access=SECRET) as url:
        yield Hub(url, work, revisions)
    for log in (work / "olah.log", *(work / "olah-logs").rglob("*")):
        assert not log.is_file() or SECRET not in log.read_text(errors="replace")


def cli(hub: Hub, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m vocablab ARGS`` against the local hub; its output never holds the token."""
    done = subprocess.run(
        [sys.executable, "-m", "vocablab", *args],
        env={**os.environ, **hub.env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert SECRET not in done.stdout + done.stderr
    return done


def token_ids(done: subprocess.CompletedProcess) -> dict[str, list[int]]:
    assert done.returncode == 0, done.stderr
    return {t["name"]: t["ids"] for t in json.loads(done.stdout)["tokenizers"]}


def preset_ids(name: str) -> list[int]:
    return load_vocabulary(name).encode(TEXT)


def test_tokenizer_views_download_only_tokenizer_files(hub):
    ids = token_ids(cli(hub, "compare", SMOLLM2, TINY_GPT2, "--text", TEXT, "--json"))
    assert ids == {SMOLLM2: preset_ids("smollm2-135m"), TINY_GPT2: preset_ids("gpt2")}
    assert hub.snapshot_files(TINY_GPT2) <= set(TOKENIZER_FILES)  # its weights stayed on the server
    assert "tokenizer.json" in hub.snapshot_files(TINY_GPT2)


def test_weights_come_only_as_safetensors(hub):
    done = cli(hub, "generate", TINY_GPT2, "--prompt", "the cat", "--k", "4", "--max-new-bytes", "6")
    assert done.returncode == 0, done.stderr
    files = hub.snapshot_files(TINY_GPT2)
    assert "model.safetensors" in files and "pytorch_model.bin" not in files
    done = cli(hub, "generate", PICKLES, "--prompt", "the cat", "--max-new-bytes", "6")
    assert done.returncode == 2
    assert "no .safetensors weights" in done.stderr and "pickled weights are never loaded" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_revision_pins_a_commit(hub):
    first, second = hub.revisions
    assert preset_ids("gpt2") != preset_ids("mistral")
    pinned = token_ids(
        cli(hub, "compare", f"{REVISIONS}@{first}", REVISIONS, f"{REVISIONS}@{second[:10]}", "--text", TEXT, "--json")
    )
    assert (
        pinned
        == {
            f"{REVISIONS}@{first}": preset_ids("gpt2"),
            REVISIONS: preset_ids("mistral"),  # main is the second commit
            f"{REVISIONS}@{second[:10]}": preset_ids("mistral"),  # a short hash
        }
    )


def test_unknown_repository_and_unknown_revision_say_different_things(hub):
    repo = cli(hub, "compare", "vocablab-test/no-such-model", "gpt2", "--text", TEXT)
    assert repo.returncode == 2 and "no such model on the Hugging Face hub" in repo.stderr
    revision = cli(hub, "compare", f"{SMOLLM2}@nonexistentrev", "gpt2", "--text", TEXT)
    assert revision.returncode == 2
    assert f"{SMOLLM2} exists, but it has no revision 'nonexistentrev'" in revision.stderr
    assert "main" in revision.stderr  # the revisions it has
    assert "Traceback" not in repo.stderr + revision.stderr


def test_a_gated_repository_opens_only_with_a_token_that_has_access(hub):
    no_token = cli(hub, "compare", GATED, "gpt2", "--text", TEXT, env={"HF_TOKEN": ""})
    assert no_token.returncode == 2 and "Traceback" not in no_token.stderr
    assert f"{GATED} is gated" in no_token.stderr and "then set HF_TOKEN" in no_token.stderr
    other = cli(hub, "compare", GATED, "gpt2", "--text", TEXT, env={"HF_TOKEN": "hf_someoneElsesToken0123456789"})
    assert other.returncode == 2 and "the token in use (HF_TOKEN, or your login) has no access" in other.stderr
    assert not hub.snapshot_files(GATED)  # nothing of it came down
    assert token_ids(cli(hub, "compare", GATED, "gpt2", "--text", TEXT, "--json")) == {
        GATED: preset_ids("gpt2"),
        "gpt2": preset_ids("gpt2"),
    }


@pytest.mark.parametrize(
    "command",
    [
        ("eval", CUSTOM, "--text", "TEXT_FILE"),
        ("generate", CUSTOM, "--prompt", "the cat", "--max-new-bytes", "4"),
        ("before-after", TINY_GPT2, CUSTOM, "--text", "the cat sat on the mat"),
    ],
    ids=lambda command: command[0],
)
def test_a_repositorys_own_code_runs_only_when_allowed(hub, command):
    marker = hub.work / "custom-code-ran"
    marker.unlink(missing_ok=True)
    cache = {"HF_HUB_CACHE": str(hub.work / f"cache-{command[0]}")}  # each command downloads for itself
    text = hub.work / "text.txt"
    text.write_text("the cat sat on the mat\n")
    command = [str(text) if arg == "TEXT_FILE" else arg for arg in command]
    refused = cli(hub, *command, env=cache)
    assert refused.returncode == 2 and "pass --trust-remote-code if you trust it" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    downloaded = lambda: hub.snapshot_files(CUSTOM, cache=f"cache-{command[0]}")  # noqa: E731
    assert not marker.exists() and "custom.py" not in downloaded()  # not even downloaded
    public = cli(hub, *command, "--trust-remote-code", env={**cache, "VOCABLAB_PUBLIC": "1"})
    assert public.returncode == 2 and "which this public app never runs" in public.stderr, public.stderr
    assert not marker.exists() and "custom.py" not in downloaded()  # a public app never allows it
    cli(hub, *command, "--trust-remote-code", env=cache)  # the user's own choice
    assert marker.exists()


@pytest.fixture(scope="module")
def public_app(hub, tmp_path_factory):
    """The app in public mode (as on a Space), reaching the local hub, with a token in its environment."""
    log = tmp_path_factory.mktemp("public-app") / "app.log"
    env = {**hub.env(), "VOCABLAB_PUBLIC": "1", "VOCABLAB_WORKDIR": str(hub.work / "runs")}  # the CLI's hub cache
    with serve_app(env=env, log=log, timeout=180) as url:
        yield url
    assert SECRET not in log.read_text()


def app_error(call) -> str:
    """The message the app shows for a call that must fail."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as error:
        call()
    return str(error.value)


def test_public_app_serves_hub_ids_and_refuses_server_paths(public_app, hub):
    guest = visitor(public_app)
    html, summary, *_ = guest.predict(TEXT, False, SMOLLM2, GEMMA, None, None, api_name="/tokenize_side_by_side")
    assert [row[0] for row in summary["data"]] == [SMOLLM2, GEMMA]
    assert hub.snapshot_files(SMOLLM2, "hub-tokenless") <= set(TOKENIZER_FILES)
    for path in (str(preset_dir("smollm2-135m")), "/etc/passwd", str(hub.work / "runs")):
        message = app_error(
            lambda p=path: guest.predict(TEXT, False, p, GEMMA, None, None, api_name="/tokenize_side_by_side")
        )
        assert "not paths on its server" in message and path not in message
    message = app_error(
        lambda: guest.predict(
            TEXT, False, f"{SMOLLM2}@nonexistentrev", GEMMA, None, None, api_name="/tokenize_side_by_side"
        )
    )
    assert "has no revision 'nonexistentrev'" in message
    message = app_error(
        lambda: guest.predict(
            TEXT, False, "vocablab-test/no-such-model", GEMMA, None, None, api_name="/tokenize_side_by_side"
        )
    )
    assert "no such model" in message
    assert cli(hub, "compare", GATED, "gpt2", "--text", TEXT).returncode == 0  # the owner's token fetches it
    message = app_error(lambda: guest.predict(TEXT, False, GATED, GEMMA, None, None, api_name="/tokenize_side_by_side"))
    assert f"{GATED} is gated" in message and "loads models without a hub token" in message
    assert hub.snapshot_files(GATED)  # though the server's own hub cache holds it (fetched with its token)
    _, summary, *_ = guest.predict(TEXT, False, "gpt2", "mistral", None, None, api_name="/tokenize_side_by_side")
    assert len(summary["data"]) == 2  # still serving


def test_public_app_serves_no_file_of_the_server(public_app):
    import urllib.error
    import urllib.request

    secret = Path("/etc/passwd")
    for url in (f"{public_app}gradio_api/file={secret}", f"{public_app}gradio_api/file=app.py"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(url, timeout=30)
        assert error.value.code in (403, 404)
    # the upload handler reads only what was uploaded, not a path a visitor names
    forged = {"path": str(secret), "meta": {"_type": "gradio.FileData"}, "orig_name": "notes.txt"}
    message = app_error(lambda: visitor(public_app).predict(forged, api_name="/read_upload"))
    assert "root:" not in message
    # nor a folder named by a revision (the hub client joins a cached ref file's content to its cache)
    message = app_error(
        lambda: visitor(public_app).predict(
            TEXT, False, f"{SMOLLM2}@../../../../etc", GEMMA, None, None, api_name="/tokenize_side_by_side"
        )
    )
    assert "not a revision" in message


def test_public_app_takes_no_request_outside_its_queue(public_app):
    """A direct REST call would skip the queue's limits and carry no session, hence no session folder."""
    import urllib.error
    import urllib.request

    body = json.dumps({"data": [TEXT, False, "smollm2-135m", "gemma3-270m", None, None]}).encode()
    call = urllib.request.Request(f"{public_app}gradio_api/run/tokenize_side_by_side", data=body, method="POST")
    call.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(call, timeout=60) as answer:
            reply = json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        reply = {"error": refused.read().decode()}
    assert "data" not in reply and reply.get("error")
    try:  # no run history: it would keep each call's inputs, a hub token among them, in the browser
        urllib.request.urlopen(f"{public_app}gradio_api/runs", timeout=60)
        status = 200
    except urllib.error.HTTPError as refused:
        status = refused.code
    assert status == 404


def test_a_transplant_from_two_hub_ids_in_the_browser(public_app, hub):
    with chromium_page(public_app) as page:
        page.get_by_role("tab", name="Transplant").click()
        for picker, value in (("transplant-base", TINY_GPT2), ("transplant-donor", TINY_MISTRAL)):
            box = page.locator(f"#{picker} input")
            box.fill(value)
            box.press("Enter")
            page.keyboard.press("Escape")
        k_box = page.locator("#transplant-k input[type='number']")
        k_box.fill("4")
        k_box.press("Enter")
        page.locator("#transplant-run").click()
        summary = page.locator("#transplant-summary")
        expect(summary).to_contain_text("approximated", timeout=300_000)
        expect(summary).to_contain_text("Kept on this server for at most 24 hours")
        handle = re.search(r"output:\S+", summary.inner_text()).group(0)
        assert str(hub.work) not in summary.inner_text() and "/tmp" not in summary.inner_text()  # no server path
        # the handle opens the visitor's own model in any picker
        page.get_by_role("tab", name="Tokenizers").click()
        for picker, value in (("picker-a", handle), ("picker-b", "mistral")):
            box = page.locator(f"#{picker} input")
            box.fill(value)
            box.press("Enter")
            page.keyboard.press("Escape")
        page.locator("#tok-text textarea").fill(TEXT)
        page.locator("#tok-run").click()
        expect(page.locator("#tok-html .vl-col").first).to_have_attribute("data-tokenizer", handle, timeout=120_000)
    other = visitor(public_app)  # another visitor, another session
    message = app_error(
        lambda: other.predict(TEXT, False, handle, "gpt2", None, None, api_name="/tokenize_side_by_side")
    )
    assert "no such output in this session" in message


def test_public_app_pushes_only_with_the_visitors_own_token(public_app, hub):
    guest = visitor(public_app)
    summary, *_ = guest.predict(TINY_GPT2, TINY_MISTRAL, 2, "omp", "bytes", api_name="/run_transplant")
    assert "output:" in summary and str(hub.work) not in summary
    message = app_error(lambda: guest.predict("someone/result", "", api_name="/push"))
    assert "hub token" in message  # the server's HF_TOKEN is not lent to a visitor
    message = app_error(lambda: guest.predict("someone/result", "hf_visitorsOwnToken", api_name="/push"))
    assert "push to someone/result failed" in message and "hf_visitorsOwnToken" not in message
