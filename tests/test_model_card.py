"""Issue 34 findings 12 and 13: a transplant's model card and output dtype, and where the app shows
an output (its local folder when running locally, never in public mode)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from vocablab import outputs
from vocablab.errors import VocabLabError
from vocablab.surgery import transplant
from vocablab.surgery.card import write_model_card

from .conftest import tiny_llama

pytestmark = pytest.mark.real  # tiny models with preset tokenizers

ANCHORS = "transplant_anchors.safetensors"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("card-models")
    return {
        "base": tiny_llama("gpt2", root / "gpt2-base", tied=False, seed=1),  # float32, a head of its own
        "donor": tiny_llama("mistral", root / "mistral-donor", tied=True, seed=2),  # splits digits one by one
    }


def front_matter(card: str) -> tuple[dict, str]:
    """The YAML between the first two '---' lines, and the text after it."""
    assert card.startswith("---\n")
    head, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def model_files(folder: Path) -> list[Path]:
    return [p for p in folder.glob("*.safetensors") if p.name != ANCHORS]


def test_the_card_says_what_was_done_and_names_no_path(models, tmp_path):
    out = tmp_path / "made" / "gpt2-with-mistral"
    transplant(str(models["base"]), str(models["donor"]), out, k=4, method="omp", match="bytes")
    card = (out / "README.md").read_text(encoding="utf-8")
    meta, body = front_matter(card)
    assert meta["library_name"] == "transformers"
    assert meta["tags"] == ["vocablab", "tokenizer-transplant"]
    assert "base_model" not in meta  # a local folder is no hub id: the hub would refuse the card
    for named in ("`gpt2-base`", "`mistral-donor`", "`omp`", "k = 4", "`bytes`", "made by a tokenizer transplant"):
        assert named in body, named
    # the counts and the error, against what the run recorded in its other files
    report = json.loads((out / "transplant.json").read_text())
    recorded = load_file(str(out / ANCHORS))
    assert report["counts"]["approximated"] == len(recorded["new_ids"]) > 0
    assert f"{len(recorded['new_ids']):,} new tokens approximated" in body
    copied = report["counts"]["exact"] + report["counts"]["bytes"]
    assert f"{report['counts']['exact']:,} exact and {report['counts']['bytes']:,} byte-matched" in body
    assert copied + report["counts"]["special"] + len(recorded["new_ids"]) == report["rows"]
    assert f"({'embed'}): {recorded['embed.error'].mean().item():.4f}" in body
    assert "split digits differently" in body  # gpt2 and mistral split numbers differently
    assert "vocablab before-after" in body  # not measured: how to measure it
    assert re.search(r"vocablab \d+\.\d+", body)
    # no absolute path of this machine, though the models were named by theirs
    for folder in (tmp_path, models["base"].parent, Path.home(), Path.cwd()):
        assert str(folder) not in card and str(folder.resolve()) not in card, folder
    assert not re.search(r"(^|[\s'\"(`])/[\w.-]+/", card), "an absolute path"


def test_the_card_carries_a_measured_before_after(models, tmp_path):
    from vocablab.evaluate import compare_before_after

    out = tmp_path / "measured"
    transplant(str(models["base"]), str(models["donor"]), out, k=2)
    text = "The cat sat on the mat in 2024, and 12,345 birds flew over it."
    result = compare_before_after(str(models["base"]), str(out), text, "The cat")
    write_model_card(
        out, {"bits_per_byte": result.bits_per_byte, "text_bytes": result.text_bytes, "tokens": result.tokens}
    )
    _, body = front_matter((out / "README.md").read_text(encoding="utf-8"))
    rows = dict(re.findall(r"^\| (base|transplanted) \| ([\d.]+) \|", body, flags=re.M))
    assert {label: float(value) for label, value in rows.items()} == pytest.approx(result.bits_per_byte, abs=1e-4)
    assert f"{len(text.encode()):,}-byte text" in body and "Not measured" not in body


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "auto"])
def test_every_written_tensor_has_the_asked_dtype_and_the_model_loads(models, tmp_path, dtype):
    from transformers import AutoModelForCausalLM

    out = tmp_path / dtype
    transplant(str(models["base"]), str(models["donor"]), out, k=2, dtype=dtype)
    base = {name: t for f in model_files(models["base"]) for name, t in load_file(str(f)).items()}
    written = {name: t for f in model_files(out) for name, t in load_file(str(f)).items()}  # safetensors' own reader
    assert set(written) == set(base)
    expected = torch.float32 if dtype == "auto" else getattr(torch, dtype)  # tiny_llama saves float32
    assert {name: t.dtype for name, t in written.items()} == dict.fromkeys(base, expected)
    for name, tensor in base.items():  # every tensor but the embeddings: the base's, cast
        if "embed_tokens" not in name and "lm_head" not in name:
            assert torch.equal(written[name], tensor.to(expected)), name
    config = json.loads((out / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == ("float32" if dtype == "auto" else dtype)
    model = AutoModelForCausalLM.from_pretrained(str(out))
    assert {p.dtype for p in model.parameters()} == {expected}
    logits = model(torch.tensor([[1, 500, 1000, 20_000]])).logits
    assert logits.shape[-1] == 32_000 and torch.isfinite(logits).all()


def test_a_bad_dtype_is_refused(models, tmp_path):
    out = tmp_path / "bad"
    with pytest.raises(VocabLabError, match="unknown output dtype 'int8'; use one of auto, float32"):
        transplant(str(models["base"]), str(models["donor"]), out, dtype="int8")
    assert not out.exists()
    cli = [sys.executable, "-m", "vocablab", "transplant", "--base", str(models["base"]), "--donor"]
    run = subprocess.run(
        [*cli, str(models["donor"]), "--out", str(out), "--dtype", "int8"], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 2 and "--dtype" in run.stderr and "int8" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


def test_float16_refuses_values_it_cannot_hold(models, tmp_path):
    base = tmp_path / "large-values"
    shutil.copytree(models["base"], base)
    weights = load_file(str(base / "model.safetensors"))
    weights["model.norm.weight"][0] = 1e6  # float16 ends at 65,504
    save_file(weights, str(base / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(VocabLabError, match="model.norm.weight has values up to 1,000,000, which float16 cannot hold"):
        transplant(str(base), str(models["donor"]), tmp_path / "f16", k=2, dtype="float16")
    assert not (tmp_path / "f16").exists()
    transplant(str(base), str(models["donor"]), tmp_path / "bf16", k=2, dtype="bfloat16")  # bfloat16 holds it


def _visitor_models(models, session: str) -> tuple[str, str]:
    """The tiny models as this visitor's own outputs: what a public app lets them name."""
    folder = outputs.session_folder(session)
    for key in ("base", "donor"):
        shutil.copytree(models[key], folder / key)
    return "output:base", "output:donor"


@pytest.mark.parametrize("public", [False, True])
def test_the_summary_shows_the_local_folder_only_when_running_locally(models, tmp_path, monkeypatch, public):
    from vocablab.ui.transplant_tab import run_transplant

    monkeypatch.setenv("VOCABLAB_WORKDIR", str(tmp_path / "runs"))
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv("VOCABLAB_PUBLIC", "1" if public else "0")
    base, donor = _visitor_models(models, "visitor")
    summary, out, *_ = run_transplant(base, donor, 2, "omp", "bytes", "auto", gr.Request(session_hash="visitor"))
    folder = Path(out)
    assert folder.is_dir() and (folder / "README.md").is_file()
    assert f"`{outputs.handle(folder)}`" in summary
    if public:
        assert str(tmp_path) not in summary and not re.search(r"(^|[\s`'\"(])/[\w.-]+/", summary)
    else:
        shown = re.search(r"`(/[^`]+)`", summary)
        assert shown and Path(shown.group(1)) == folder.resolve() and Path(shown.group(1)).is_absolute()


def test_the_apps_before_after_writes_its_scores_into_the_card(models, tmp_path, monkeypatch):
    from vocablab.ui.transplant_tab import before_after, run_transplant

    monkeypatch.setenv("VOCABLAB_WORKDIR", str(tmp_path / "runs"))
    monkeypatch.setenv("VOCABLAB_PUBLIC", "1")
    base, donor = _visitor_models(models, "visitor")
    visitor = gr.Request(session_hash="visitor")
    _, out, *_ = run_transplant(base, donor, 2, "omp", "bytes", "auto", visitor)
    scores, *_ = before_after(out, "Numbers like 12,345 and 3.14 appear too.", "The cat", visitor)
    _, body = front_matter((Path(out) / "README.md").read_text(encoding="utf-8"))
    rows = dict(re.findall(r"^\| (base|transplanted) \| ([\d.]+) \|", body, flags=re.M))
    shown = scores["bits per byte"].tolist()  # what the view showed: base first
    assert [float(rows["base"]), float(rows["transplanted"])] == pytest.approx(shown, abs=1e-4)
