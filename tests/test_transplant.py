"""Tokenizer transplant on tiny models that carry real tokenizers of different families."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from vocablab.errors import VocabLabError
from vocablab.sources import load_vocabulary
from vocablab.surgery import transplant
from vocablab.surgery.checkpoint import find_embeddings, read_header
from vocablab.surgery.engine import ANCHORS, REPORT
from vocablab.surgery.matching import match_tokens

from .conftest import tiny_llama

pytestmark = pytest.mark.real  # tiny models with preset tokenizers


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {
        "base_tied": tiny_llama("gpt2", root / "base_tied", tied=True),
        "base_untied": tiny_llama("gpt2", root / "base_untied", tied=False, seed=1),
        "donor_tied": tiny_llama("mistral", root / "donor_tied", tied=True, seed=2),
        "donor_untied": tiny_llama("mistral", root / "donor_untied", tied=False, seed=3),
        # a padded donor: more embedding rows than tokenizer ids (like Qwen2.5)
        "donor_padded": tiny_llama("mistral", root / "donor_padded", tied=True, rows=32_064, seed=4),
        # a donor whose tokenizer has ids beyond its embedding rows
        "donor_short": tiny_llama("mistral", root / "donor_short", tied=True, rows=31_000, seed=5),
    }


def tensors(folder: Path) -> dict[str, torch.Tensor]:
    out = {}
    for file in folder.glob("*.safetensors"):
        if file.name != ANCHORS:
            out.update(load_file(str(file)))
    return out


@pytest.mark.parametrize("base_key", ["base_tied", "base_untied"])
@pytest.mark.parametrize("donor_key", ["donor_tied", "donor_untied"])
def test_transplant_copies_shared_rows_and_fits_new_ones(models, tmp_path, base_key, donor_key):
    base, donor = models[base_key], models[donor_key]
    out = tmp_path / "out"
    result = transplant(str(base), str(donor), out, k=8)
    base_t, out_t = tensors(base), tensors(out)
    donor_vocab, base_vocab = load_vocabulary(str(donor)), load_vocabulary(str(base))
    match = match_tokens(base_vocab, donor_vocab, "bytes")

    # every tensor but the embeddings is bit-for-bit the base's
    replaced = {n for n in find_embeddings(base) if n}
    assert set(out_t) == set(base_t)
    for name in set(base_t) - replaced:
        assert torch.equal(out_t[name], base_t[name]), name
    embed = out_t["model.embed_tokens.weight"]
    assert embed.shape[0] == len(donor_vocab) == result.rows

    # shared rows are copies; new rows are the recorded coefficients on the base's anchor rows
    shared = [(d, b) for d, b in enumerate(match.base_id) if b >= 0]
    d_ids, b_ids = zip(*shared, strict=True)
    assert torch.equal(embed[list(d_ids)], base_t["model.embed_tokens.weight"][list(b_ids)])
    anchors = load_file(str(out / ANCHORS))
    donor_to_base = dict(shared)
    for row in range(0, len(anchors["new_ids"]), 97):
        new_id = anchors["new_ids"][row].item()
        anchor_rows = [donor_to_base[a] for a in anchors["embed.anchors"][row].tolist()]
        base_rows = base_t["model.embed_tokens.weight"][anchor_rows]
        expected = anchors["embed.coefficients"][row] @ base_rows
        torch.testing.assert_close(embed[new_id], expected, rtol=1e-4, atol=1e-5)

    # a tied base stays tied (no lm_head written); an untied one gets a transplanted head
    assert ("lm_head.weight" in out_t) == (base_key == "base_untied") and result.tied == (base_key == "base_tied")
    if base_key == "base_untied":
        assert "head.anchors" in anchors and out_t["lm_head.weight"].shape == embed.shape
        for row in range(0, len(anchors["new_ids"]), 97):  # the head's new rows from its own record
            anchor_rows = [donor_to_base[a] for a in anchors["head.anchors"][row].tolist()]
            expected = anchors["head.coefficients"][row] @ base_t["lm_head.weight"][anchor_rows]
            torch.testing.assert_close(out_t["lm_head.weight"][anchors["new_ids"][row]], expected, rtol=1e-4, atol=1e-5)
        if donor_key == "donor_tied":  # its head is its embedding: one problem, solved once, one answer
            assert torch.equal(anchors["head.anchors"], anchors["embed.anchors"])
            assert torch.equal(anchors["head.coefficients"], anchors["embed.coefficients"])
    config = json.loads((out / "config.json").read_text())
    assert config["vocab_size"] == len(donor_vocab)
    assert config["bos_token_id"] == donor_vocab.roles["bos"] and config["eos_token_id"] == donor_vocab.roles["eos"]
    assert result.counts["approximated"] == len(anchors["new_ids"]) > 0
    assert sum(result.counts[k] for k in ("exact", "bytes", "special", "approximated", "absent")) == len(donor_vocab)


def test_output_loads_and_generates(models, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "out"
    transplant(str(models["base_tied"]), str(models["donor_tied"]), out, k=4)
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer("The capital of France", return_tensors="pt").input_ids
    generated = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] == ids.shape[1] + 5
    assert json.loads((out / REPORT).read_text())["method"] == "omp"


def test_overwrite_replaces_a_model_folder_and_nothing_else(models, tmp_path, monkeypatch):
    base, donor = str(models["base_tied"]), str(models["donor_tied"])
    out = tmp_path / "out"
    transplant(base, donor, out, k=2, method="mean")
    assert json.loads((out / REPORT).read_text())["k"] is None  # the mean method has no anchors
    mask = os.umask(0o022)
    os.umask(mask)
    modes = {path.name: path.stat().st_mode & 0o777 for path in (out, *out.iterdir())}
    assert modes == {"out": 0o777 & ~mask} | {p.name: 0o666 & ~mask for p in out.iterdir()}  # not private
    (out / "stale.txt").write_text("from the first run")
    transplant(base, donor, out, k=2, method="zero", overwrite=True)  # a model folder: replaced whole
    assert json.loads((out / REPORT).read_text())["method"] == "zero" and not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left beside it

    # the working folder (as "." or ""), a folder above it, a folder of other files, a file: refused,
    # before any work, and every file is still there
    work = tmp_path / "mine"
    (work / "sub").mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    (work / "sub" / "data.txt").write_text("mine too")
    monkeypatch.chdir(work / "sub")
    for target, message in [
        (work / "notes.txt" / "sub", "notes.txt is a file, not a folder"),
        (".", "working folder"),
        ("", "working folder"),
        (work, "working folder"),
        (work / "sub" / "data.txt", "is a file"),
    ]:
        with pytest.raises(VocabLabError, match=message):
            transplant(base, donor, target, k=2, method="mean", overwrite=True)
    monkeypatch.chdir(tmp_path)
    # a folder of other files, one that looks like a project with a config.json, another tool's model,
    # and a vocablab model folder someone put a subfolder in: none of them is vocablab's to replace
    (work / "config.json").write_text('{"app": 1}')
    other_tool = tmp_path / "other-tool"
    other_tool.mkdir()
    (other_tool / "config.json").write_text("{}")
    (other_tool / "model.safetensors").write_bytes(b"weights")
    (out / "runs").mkdir()
    for target in (work, other_tool, out):
        with pytest.raises(VocabLabError, match="not a model folder vocablab made"):
            transplant(base, donor, target, k=2, method="mean", overwrite=True)
    assert (work / "notes.txt").read_text() == "mine" and (work / "sub" / "data.txt").read_text() == "mine too"
    assert (other_tool / "model.safetensors").read_bytes() == b"weights" and (out / REPORT).is_file()


def test_omp_screens_in_bfloat16_exactly_where_the_cpu_has_bfloat16_instructions(models, tmp_path):
    """Which correlation products OMP runs is chosen by timing; the CPU's flags say what it should
    choose. The old probe (2x on three tries) chose float32 about one run in ten on this machine."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = {word for line in cpuinfo.read_text().splitlines() if line.startswith("flags") for word in line.split()}
    if torch.cuda.is_available() or "sse2" not in flags:
        pytest.skip("x86 CPU flags (Linux) decide the expected answer")
    expected = "bfloat16 screen" if flags & {"avx512_bf16", "amx_bf16"} else "float32"
    out = tmp_path / "out"
    result = transplant(str(models["base_tied"]), str(models["donor_tied"]), out, k=2)
    assert result.counts["exact"] + result.counts["bytes"] >= 4096  # the screen's minimum dictionary
    assert json.loads((out / REPORT).read_text())["omp_products"] == {"embed": expected}


@pytest.mark.parametrize("donor_key", ["donor_padded", "donor_short"])
def test_donor_rows_that_differ_from_its_tokenizer(models, tmp_path, donor_key):
    result = transplant(str(models["base_tied"]), str(models[donor_key]), tmp_path / "out", k=4)
    embed = tensors(tmp_path / "out")["model.embed_tokens.weight"]
    assert embed.shape[0] == result.rows == len(load_vocabulary(str(models[donor_key])))
    assert (result.counts["no_donor_row"] > 0) == (donor_key == "donor_short")
    assert torch.isfinite(embed).all()
    # a token past the donor's rows has no row to approximate from: it gets the base's mean row, computed
    # here in float64 from the base's weights; every other row differs from that mean
    donor_rows = len(tensors(models[donor_key])["model.embed_tokens.weight"])
    base_mean = tensors(models["base_tied"])["model.embed_tokens.weight"].double().mean(dim=0)
    is_mean = torch.isclose(embed.double(), base_mean.double(), rtol=1e-5, atol=1e-9).all(dim=1)
    assert int(is_mean.sum()) == int(is_mean[donor_rows:].sum()) == result.counts["no_donor_row"]


@pytest.mark.parametrize("method", ["mean", "zero", "subword", "knn"])
def test_baselines(models, tmp_path, method):
    out = tmp_path / method
    result = transplant(str(models["base_tied"]), str(models["donor_tied"]), out, k=4, method=method)
    embed = tensors(out)["model.embed_tokens.weight"]
    new_ids = load_file(str(out / ANCHORS))["new_ids"]
    base_embed = tensors(models["base_tied"])["model.embed_tokens.weight"]
    if method == "zero":
        assert embed[new_ids].abs().sum() == 0
    if method == "mean":
        torch.testing.assert_close(embed[new_ids[0]], base_embed.mean(dim=0))
    assert result.method == method and torch.isfinite(embed).all()


def test_string_matching_shares_fewer_tokens_than_bytes(models, tmp_path):
    by_string = transplant(str(models["base_tied"]), str(models["donor_tied"]), tmp_path / "s", k=4, match="string")
    by_bytes = transplant(str(models["base_tied"]), str(models["donor_tied"]), tmp_path / "b", k=4, match="bytes")
    assert by_string.counts["bytes"] == 0 < by_bytes.counts["bytes"]
    assert by_bytes.counts["approximated"] < by_string.counts["approximated"]


def test_bad_input(models, tmp_path):
    base, donor = str(models["base_tied"]), str(models["donor_tied"])
    with pytest.raises(VocabLabError, match="same model"):
        transplant(base, base, tmp_path / "a")
    with pytest.raises(VocabLabError, match="larger than"):
        transplant(base, donor, tmp_path / "b", k=10**6)
    (tmp_path / "exists").mkdir()
    with pytest.raises(VocabLabError, match="exists"):
        transplant(base, donor, tmp_path / "exists")
    with pytest.raises(VocabLabError, match="unknown method"):
        transplant(base, donor, tmp_path / "c", method="magic")
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # nothing half-written left


def test_base_without_an_embedding_tensor(models, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(models["base_tied"], broken)
    weights = load_file(str(broken / "model.safetensors"))
    weights["model.token_table"] = weights.pop("model.embed_tokens.weight")
    save_file(weights, str(broken / "model.safetensors"))
    with pytest.raises(VocabLabError, match="no input embedding"):
        transplant(str(broken), str(models["donor_tied"]), tmp_path / "out")


def test_donor_with_nan_rows_is_refused_and_nothing_is_written(models, tmp_path):
    """A damaged donor file (NaN and inf in two rows the transplant uses) stops it with a message
    before any output is written, rather than writing NaN rows."""
    broken = tmp_path / "broken"
    shutil.copytree(models["donor_tied"], broken)
    weights = load_file(str(broken / "model.safetensors"))
    embed = weights["model.embed_tokens.weight"]
    embed[100, 3], embed[5000, 0] = float("nan"), float("inf")
    save_file(weights, str(broken / "model.safetensors"))
    out = tmp_path / "out"
    with pytest.raises(VocabLabError, match="2 rows with NaN or infinite values"):
        transplant(str(models["base_tied"]), str(broken), out, k=2)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["broken"]


def test_streamed_shard_has_a_valid_header(models, tmp_path):
    out = tmp_path / "out"
    transplant(str(models["base_tied"]), str(models["donor_tied"]), out, k=2)
    header, start = read_header(out / "model.safetensors")
    assert start % 8 == 0
    with safe_open(str(out / "model.safetensors"), framework="pt") as handle:
        assert set(handle.keys()) == {k for k in header if k != "__metadata__"}


def test_omp_recovers_a_linear_map_between_embedding_spaces(models, tmp_path):
    """If the base's shared rows are the donor's rows times a matrix M, OMP with k >= the donor's
    width rebuilds every new token exactly as donor row @ M: the whole pipeline, end to end."""
    donor, base = tmp_path / "linear_donor", tmp_path / "linear_base"
    shutil.copytree(models["donor_tied"], donor)
    shutil.copytree(models["base_tied"], base)
    base_vocab, donor_vocab = load_vocabulary(str(base)), load_vocabulary(str(donor))
    shared = [(d, b) for d, b in enumerate(match_tokens(base_vocab, donor_vocab, "bytes").base_id) if b >= 0]
    donor_weights = load_file(str(donor / "model.safetensors"))
    donor_embed = donor_weights["model.embed_tokens.weight"].double()
    first_donor = {}
    for d, b in shared:  # donor tokens that share one base token (eos and end of turn) get one row
        donor_embed[d] = donor_embed[first_donor.setdefault(b, d)]
    donor_weights["model.embed_tokens.weight"] = donor_embed.float()
    save_file(donor_weights, str(donor / "model.safetensors"))
    donor_embed = donor_embed.float().double()
    weights = load_file(str(base / "model.safetensors"))
    mapping = torch.randn(donor_embed.shape[1], weights["model.embed_tokens.weight"].shape[1], dtype=torch.float64)
    for d, b in shared:
        weights["model.embed_tokens.weight"][b] = (donor_embed[d] @ mapping).float()
    save_file(weights, str(base / "model.safetensors"))

    out = tmp_path / "out"
    transplant(str(base), str(donor), out, k=donor_embed.shape[1])
    embed = tensors(out)["model.embed_tokens.weight"].double()
    new_ids = load_file(str(out / ANCHORS))["new_ids"]
    expected = donor_embed[new_ids] @ mapping
    torch.testing.assert_close(embed[new_ids], expected, rtol=2e-3, atol=2e-3 * expected.abs().max().item())


def test_a_donor_alias_gets_its_own_row_not_the_copy_of_its_character(models, tmp_path):
    """Mistral's byte-fallback "<0x41>" has the bytes of "A", which its tokenizer produces instead.
    Only "A" copies the base's row of "A"; the alias is built by OMP, so the output head does not
    give it the logit of "A" (the two rows used to be the same copy)."""
    out = tmp_path / "out"
    transplant(str(models["base_tied"]), str(models["donor_tied"]), out, k=4)
    donor, base = load_vocabulary(str(models["donor_tied"])), load_vocabulary(str(models["base_tied"]))
    alias, letter = donor.id_of_string["<0x41>"], donor.id_of_string["A"]
    assert alias in set(load_file(str(out / ANCHORS))["new_ids"].tolist())
    embed = tensors(out)["model.embed_tokens.weight"]
    base_embed = tensors(models["base_tied"])["model.embed_tokens.weight"]
    assert torch.equal(embed[letter], base_embed[base.id_of_string["A"]])
    assert not torch.equal(embed[alias], embed[letter])


def test_special_tokens_are_copied_but_never_anchors(models, tmp_path):
    """A donor special token's row is made equal to a new token's (long) row, so it would be that
    token's first atom; OMP's atoms are the shared text tokens only, so it is not picked, though it is still
    copied from the base's token of its role."""
    donor = tmp_path / "donor"
    shutil.copytree(models["donor_tied"], donor)
    donor_vocab, base_vocab = load_vocabulary(str(donor)), load_vocabulary(str(models["base_tied"]))
    match = match_tokens(base_vocab, donor_vocab, "bytes")
    eos, target = donor_vocab.roles["eos"], match.new_donor_ids[100]
    assert match.kind[eos] == "special"
    weights = load_file(str(donor / "model.safetensors"))
    embed = weights["model.embed_tokens.weight"]
    embed[target] *= 100  # atoms are not normalized: a long row makes itself the clear first pick
    embed[eos] = embed[target]
    save_file(weights, str(donor / "model.safetensors"))
    out = tmp_path / "out"
    transplant(str(models["base_tied"]), str(donor), out, k=4)
    record = load_file(str(out / ANCHORS))
    specials = torch.tensor(sorted(donor_vocab.special_ids))
    assert not torch.isin(record["embed.anchors"], specials).any()
    copied = tensors(models["base_tied"])["model.embed_tokens.weight"][match.base_id[eos]]
    assert torch.equal(tensors(out)["model.embed_tokens.weight"][eos], copied)


def test_cli_transplant_and_eval(models, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "cli"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "vocablab",
            "transplant",
            "--base",
            str(models["base_tied"]),
            "--donor",
            str(models["donor_tied"]),
            "--out",
            str(out),
            "--k",
            "4",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["counts"]["approximated"] > 0
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "vocablab",
            "transplant",
            "--base",
            str(models["base_tied"]),
            "--donor",
            str(models["donor_tied"]),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
    text = tmp_path / "docs.txt"
    text.write_text("The cat sat on the mat.\nNumbers like 12,345 and 3.14 appear too.\n")
    scored = subprocess.run(
        [sys.executable, "-m", "vocablab", "eval", str(out), "--text", str(text), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert result["n_documents"] == 2 and result["bits_per_byte"] > 0
    # before-after names a base the transplant was not made from, and says so
    for base, warned in ((models["base_tied"], False), (models["base_untied"], True)):
        compared = subprocess.run(
            [sys.executable, "-m", "vocablab", "before-after", str(base), str(out), "--file", str(text), "--json"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert compared.returncode == 0, compared.stderr
        warnings = json.loads(compared.stdout)["warnings"]
        assert (warnings != []) == warned, warnings
        assert not warned or f"is a transplant of {str(models['base_tied'])!r}" in warnings[0]


def test_donor_sharing_no_tokens(models, tmp_path):
    from tokenizers import Tokenizer
    from tokenizers import models as tok_models
    from transformers import LlamaConfig, LlamaForCausalLM

    donor = tmp_path / "alien"
    donor.mkdir()
    vocab = {"⟪unk⟫": 0, **{f"⟪{w}⟫": i + 1 for i, w in enumerate(["alpha", "beta", "gamma", "delta"])}}
    Tokenizer(tok_models.WordLevel(vocab, unk_token="⟪unk⟫")).save(str(donor / "tokenizer.json"))
    (donor / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "TokenizersBackend"}))
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    LlamaForCausalLM(config).save_pretrained(donor)
    with pytest.raises(VocabLabError, match="share no tokens"):
        transplant(str(models["base_tied"]), str(donor), tmp_path / "out")


def test_a_full_disk_leaves_nothing_half_written(models, tmp_path):
    import subprocess

    disk = tmp_path / "small-disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        with pytest.raises(VocabLabError, match="disk is full"):
            transplant(str(models["base_tied"]), str(models["donor_tied"]), disk / "out", k=2, method="mean")
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def sparse_model(source: Path, folder: Path, rows: int, width: int) -> Path:
    """``source``'s tokenizer and config with a float32 embedding of rows x width in a valid
    safetensors file that takes no disk space (a sparse file: only its header is written)."""
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    size = rows * width * 4
    header = json.dumps(
        {"model.embed_tokens.weight": {"dtype": "F32", "shape": [rows, width], "data_offsets": [0, size]}}
    )
    header += " " * (-len(header) % 8)
    with open(folder / "model.safetensors", "wb") as handle:
        handle.write(len(header).to_bytes(8, "little") + header.encode())
        handle.truncate(8 + len(header) + size)
    return folder


def test_a_model_too_large_for_memory_is_refused_before_any_work(models, tmp_path):
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    width = 2 * total // (32_000 * 4) + 1  # twice this machine's memory, in float32
    huge = sparse_model(models["donor_tied"], tmp_path / "huge", 32_000, width)
    for base, donor in [(models["base_tied"], huge), (huge, models["base_tied"])]:
        out = tmp_path / f"out-{base.name}"
        with pytest.raises(VocabLabError, match=r"needs about [0-9.]+ GiB of memory .* GiB is available"):
            transplant(str(base), str(donor), out, k=4)
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge"]  # nothing half-written


def test_matches_past_the_base_rows_are_approximated(models, tmp_path):
    """A base tokenizer larger than its embedding: a donor token whose bytes only match base ids past
    the rows has no row to copy, so OMP builds it (it used to get the mean row, counted as exact)."""
    base = tiny_llama("gpt2", tmp_path / "base_short", tied=True, rows=50_100, seed=6)
    donor = models["donor_tied"]
    base_vocab, donor_vocab = load_vocabulary(str(base)), load_vocabulary(str(donor))
    by_bytes = base_vocab.ids_by_bytes()
    beyond = [
        d
        for d in donor_vocab.text_ids
        if donor_vocab.pieces[d] in by_bytes and min(by_bytes[donor_vocab.pieces[d]]) >= 50_100
    ]
    assert beyond, "no donor token matches only base ids past the rows; pick fewer rows"
    result = transplant(str(base), str(donor), tmp_path / "out", k=4)
    new_ids = set(load_file(tmp_path / "out" / ANCHORS)["new_ids"].tolist())
    assert set(beyond) <= new_ids
    assert result.counts["approximated"] == len(new_ids)


@pytest.mark.slow
def test_cli_warns_about_different_digit_schemes(tmp_path):
    """Gemma 3 splits numbers digit by digit, Llama 3 in groups of three: the warning comes first."""
    import subprocess
    import sys

    out = tmp_path / "gemma-llama3tok"
    argv = [sys.executable, "-m", "vocablab", "transplant", "--base", "gemma3-270m", "--donor", "llama3"]
    run = subprocess.run([*argv, "--out", str(out), "--method", "zero"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "one digit per token" in run.stderr and "groups of up to 3 digits" in run.stderr
    assert "6.75 to 1.44" in run.stderr and "vocablab numbers gemma3-270m llama3" in run.stderr
    assert json.loads((out / REPORT).read_text())["warnings"]


@pytest.mark.slow
def test_transplanted_default_model_ends_where_the_base_ends(tmp_path):
    """Gemma-3-270M with SmolLM2's tokenizer: SmolLM2's EOS <|im_end|> (also its pad) carries Gemma's
    <eos> row, so after the same text the new model gives its EOS exactly the base's <eos> logit, and
    generation stops on it."""
    from vocablab.sources import load_causal_lm

    out = tmp_path / "gemma-smoltok"
    transplant("gemma3-270m", "smollm2-135m", out, method="mean")  # special and shared rows are copied
    smol, gemma = load_vocabulary("smollm2-135m"), load_vocabulary("gemma3-270m")
    prompt = "The capital of France is Paris. The capital of Italy is"
    smol_ids = [smol.id_of_string["<|im_start|>"], *smol.encode(prompt)]  # SmolLM2's BOS
    gemma_ids = [gemma.id_of_string["<bos>"], *gemma.encode(prompt)]
    assert [gemma.label(i) for i in gemma_ids[1:]] == [smol.label(i) for i in smol_ids[1:]]  # same segmentation
    new_model, base_model = load_causal_lm(str(out)), load_causal_lm("gemma3-270m")
    with torch.no_grad():
        new_logits = new_model(torch.tensor([smol_ids])).logits[0, -1]
        base_logits = base_model(torch.tensor([gemma_ids])).logits[0, -1]
    eos_smol, eos_gemma = smol.id_of_string["<|im_end|>"], gemma.id_of_string["<eos>"]
    assert new_logits[eos_smol].item() == pytest.approx(base_logits[eos_gemma].item(), abs=1e-4)
    assert new_model.config.eos_token_id == eos_smol
    # generation stops at the donor's EOS: forced to be the likeliest next token, it ends the output
    bias = {(eos_smol,): 100.0}
    generated = new_model.generate(torch.tensor([smol_ids]), max_new_tokens=8, do_sample=False, sequence_bias=bias)
    assert generated[0, len(smol_ids) :].tolist() == [eos_smol]


def test_a_full_disk_under_a_writer_in_rust_leaves_nothing_half_written(tmp_path):
    """safetensors (a distillation's save_pretrained) gives the OS error only in its message."""
    import resource
    import signal

    from safetensors.torch import save_file

    from vocablab.surgery.checkpoint import write_folder

    def fill(work: Path) -> None:
        save_file({"weight": torch.zeros(2**19)}, str(work / "model.safetensors"))  # 2 MB

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, hard))  # a write past 1 MB fails as on a full disk
    try:
        with pytest.raises(VocabLabError, match="the disk is full"):
            write_folder(tmp_path / "out", fill)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert list(tmp_path.iterdir()) == []


def test_the_map_and_nearest_tokens_of_rows_without_anchors(models, tmp_path):
    """The mean method gives every new token one row: the map shows it once and says so; a zero row
    has no direction, so it has no nearest shared token (a cosine of 0 with every one)."""
    from vocablab.surgery.report import TransplantReport

    base, donor = str(models["base_tied"]), str(models["donor_tied"])
    transplant(base, donor, tmp_path / "mean", method="mean")
    report = TransplantReport.load(tmp_path / "mean")
    assert len({report.embedding[i].numpy().tobytes() for i in report.new_ids}) == 1  # the premise
    points = report.embedding_map(points=80)
    assert points["kind"].count("new (transplanted)") == 1 and "1 distinct" in points["note"]
    transplant(base, donor, tmp_path / "zero", method="zero")
    report = TransplantReport.load(tmp_path / "zero")
    assert report.nearest_shared(report.new_ids[0]) == []
    assert report.embedding_map(points=80)["kind"].count("new (transplanted)") == 0


def test_no_file_a_user_takes_away_holds_the_path_it_was_written_to(models, tmp_path):
    """Issue 34 finding 11: transplant.json (in the folder, its archive and a hub push) named the
    server's run folder by its absolute path; its warnings and the model card (finding 13) must not either."""
    import zipfile

    from vocablab.surgery.report import write_archive

    out = tmp_path / "runs" / "base-with-donor"
    result = transplant(str(models["base_tied"]), str(models["donor_tied"]), out, k=2)
    assert Path(result.out_dir) == out  # the caller is still told where it is
    written = {path.name: path.read_bytes() for path in out.iterdir()}
    with zipfile.ZipFile(write_archive(out)) as archive:
        written |= {f"zip:{name}": archive.read(name) for name in archive.namelist()}
    texts = {}
    for name, data in written.items():
        try:
            texts[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # weights
    assert {"transplant.json", "config.json", "README.md", "zip:base-with-donor/README.md"} <= set(texts)
    assert "zip:base-with-donor/transplant.json" in texts
    for folder in {str(tmp_path), str(tmp_path.resolve())}:
        holding = [name for name, text in texts.items() if folder in text]
        assert not holding, f"{holding} hold the path {folder}"
    # the card and the warnings name the base and donor without the paths they were given by (transplant.json's
    # base and donor keep them, for before-after on the same machine; a public app takes no paths)
    warnings = json.dumps(json.loads(texts["transplant.json"])["warnings"])
    assert "digit" in warnings  # gpt2 and mistral split digits apart: the warning names both
    for folder in {str(models["base_tied"].parent), str(models["base_tied"].parent.resolve())}:
        assert folder not in texts["README.md"] and folder not in warnings
    assert json.loads(texts["transplant.json"])["out_dir"] == "base-with-donor"
