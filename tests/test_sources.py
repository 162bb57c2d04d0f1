"""The model-source resolver: presets, folders, GGUF files, hub ids, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vocablab.errors import VocabLabError
from vocablab.presets import MODEL_PRESETS, TOKENIZER_PRESETS, cache_dir, is_cached, preset_dir, sha256_of
from vocablab.sources import load_causal_lm, load_vocabulary, resolve, split_revision

from .conftest import tiny_byte_level_bpe


def test_split_revision():
    assert split_revision("org/model@v1.0") == ("org/model", "v1.0")
    assert split_revision("org/model") == ("org/model", None)
    with pytest.raises(VocabLabError, match="names no revision"):  # not silently the default branch
        split_revision("org/model@")


@pytest.mark.parametrize("spec", ["", "no such thing!", "not-a-preset"])
def test_unknown_specs_are_refused(spec):
    with pytest.raises(VocabLabError):
        resolve(spec)


def test_hub_without_network_gives_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # nothing cached for this id
    with pytest.raises(VocabLabError, match="(hub|network)"):
        resolve("vocablab-test/does-not-exist-anywhere")


def test_local_folder_with_a_tokenizer(tmp_path):
    tiny_byte_level_bpe().save(str(tmp_path / "tokenizer.json"))
    vocab = load_vocabulary(str(tmp_path))
    assert vocab.text_bytes(vocab.encode("the cat")) == b"the cat"


def test_folder_without_tokenizer(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(VocabLabError, match="no tokenizer files"):
        resolve(str(tmp_path))


def test_wrong_file_type(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x80\x04not a model")
    with pytest.raises(VocabLabError, match="not a .gguf file"):
        resolve(str(path))


def test_corrupt_gguf(tmp_path):
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF" + b"\x00" * 20)
    with pytest.raises(VocabLabError, match="not a readable GGUF"):
        resolve(str(path))


def test_gguf_of_unsupported_architecture(tmp_path):
    from gguf import GGUFWriter

    path = tmp_path / "rwkv.gguf"
    writer = GGUFWriter(str(path), "rwkv6")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(VocabLabError, match="rwkv6.*not supported"):
        resolve(str(path))


def test_not_a_causal_lm(tmp_path):
    tiny_byte_level_bpe().save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"]}))
    resolve(str(tmp_path))  # the tokenizer alone is fine
    with pytest.raises(VocabLabError, match="not a causal language model"):
        resolve(str(tmp_path), need="model")


def test_pickled_weights_are_never_loaded(tmp_path):
    tiny_byte_level_bpe().save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(VocabLabError, match="pickled weights are never loaded"):
        resolve(str(tmp_path), need="model")


def test_a_shard_index_naming_a_pickle_is_refused(tmp_path):
    """transformers would torch.load any shard an index names, whatever use_safetensors says."""
    tiny_byte_level_bpe().save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (tmp_path / "model-00001.safetensors").write_bytes(b"")
    index = {"metadata": {}, "weight_map": {"a.weight": "model-00001.safetensors", "b.weight": "vocab.json"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(VocabLabError, match="'vocab.json' as a shard"):
        resolve(str(tmp_path), need="model")


@pytest.mark.parametrize("spec", ["org/name@../../etc", "org/name@/etc/passwd", "org/name@refs/../../x"])
def test_a_revision_is_never_a_path(spec):
    with pytest.raises(VocabLabError, match="not a revision"):
        resolve(spec)


def test_a_cached_ref_cannot_point_outside_the_hub_cache(monkeypatch, tmp_path):
    """The hub client, offline or refused, joins a cached ref file's content to the cache: a ref
    holding an absolute path (a file a visitor uploaded, say) would open any folder."""
    import huggingface_hub.constants as hub

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tiny_byte_level_bpe().save(str(elsewhere / "tokenizer.json"))
    refs = tmp_path / "cache" / "models--someone--repo" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text(str(elsewhere))
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    with pytest.raises(VocabLabError, match="points outside"):
        resolve("someone/repo")


def test_tokenizer_preset_is_not_a_model():
    with pytest.raises(VocabLabError, match="tokenizer-only"):
        resolve("gpt2", need="model")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODEL_PRESETS))
def test_model_presets_are_cached_safetensors_and_verified(name):
    source = resolve(name, need="model")
    assert source.path == preset_dir(name) and is_cached(name)
    assert any(source.path.glob("*.safetensors")) and not any(source.path.glob("*.bin"))
    meta = json.loads((source.path / "vocablab_preset.json").read_text())
    assert meta["gguf_sha256"] == MODEL_PRESETS[name].sha256
    assert str(cache_dir()) in str(source.path)


@pytest.mark.slow
def test_model_preset_generates_paris():
    import torch

    model = load_causal_lm("smollm2-135m", device="cpu")
    vocab = load_vocabulary("smollm2-135m")
    ids = torch.tensor([vocab.encode("The capital of France is")])
    out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert "Paris" in vocab.decode(out[0, ids.shape[1] :].tolist())


def test_sha256_of(tmp_path):
    import hashlib

    path = tmp_path / "blob"
    path.write_bytes(b"vocablab" * 1000)
    assert sha256_of(path) == hashlib.sha256(b"vocablab" * 1000).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("name", [*MODEL_PRESETS, *TOKENIZER_PRESETS])
def test_a_presets_title_gives_its_tokenizers_size(name):
    """The sizes in the preset list are the token ids each tokenizer has (specials included)."""
    title = (MODEL_PRESETS | TOKENIZER_PRESETS)[name].title
    assert f"{len(load_vocabulary(name)):,}" in title, title


def test_a_sentencepiece_model_without_tokenizer_json_is_named_as_the_cause(tmp_path):
    """transformers would try converters needing packages vocablab does not install, then say that
    tiktoken is missing; the converted tokenizer could also differ from SentencePiece's own."""
    (tmp_path / "tokenizer.model").write_bytes(b"\n\x05hello")
    with pytest.raises(VocabLabError, match="SentencePiece tokenizer.model but no tokenizer.json"):
        load_vocabulary(str(tmp_path))


def test_the_resolver_follows_the_policy_it_is_given_not_the_environment(tmp_path, monkeypatch):
    """Public mode and the app's handles are a policy passed in (vocablab.reach), so the resolver
    alone ignores SPACE_ID, and a policy of the caller's own is obeyed whatever the environment says."""
    from vocablab import reach

    tiny_byte_level_bpe().save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "mine").mkdir()
    tiny_byte_level_bpe().save(str(tmp_path / "mine" / "tokenizer.json"))
    monkeypatch.setenv("SPACE_ID", "someone/vocablab")
    monkeypatch.setenv("VOCABLAB_PUBLIC", "1")
    with reach.using(reach.Reach):  # no policy: what this machine's user can reach
        assert resolve(str(tmp_path)).kind == "local"
        with pytest.raises(VocabLabError, match="not a preset"):
            resolve("output:mine")
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.delenv("VOCABLAB_PUBLIC")
    named = {"mine:tok": tmp_path / "mine"}
    visitors = reach.Reach(public=True, named=named.get, names_hint="mine:NAME")
    with reach.using(lambda: visitors):
        with pytest.raises(VocabLabError, match=r"\(mine:NAME\), not paths on its server"):
            resolve(str(tmp_path))
        assert resolve("mine:tok").path == tmp_path / "mine"
        assert split_revision(f"{tmp_path}@x") == (str(tmp_path), "x")  # public: no probing of the disk
