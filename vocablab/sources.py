"""One resolver for every model source: presets, local folders, GGUF files and hub ids.

``resolve("smollm2-135m")``, ``resolve("./my-model")``, ``resolve("model.Q4.gguf")``,
``resolve("Qwen/Qwen3-0.6B@main", need="model")``. Only the files a task needs are downloaded:
tokenizer files for tokenizer views, safetensors weights only when weights are needed.
Weights load from safetensors or GGUF only, never from pickles; ``trust_remote_code`` is off
unless the caller turns it on.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from vocablab import reach
from vocablab.errors import VocabLabError
from vocablab.options import DEVICES
from vocablab.presets import MODEL_PRESETS, TOKENIZER_PRESETS, ensure_preset, is_preset
from vocablab.vocab import Vocabulary

LOG = logging.getLogger(__name__)

Need = Literal["tokenizer", "model"]
SourceKind = Literal["preset", "local", "gguf", "hub"]

TOKENIZER_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "chat_template.jinja",
    "config.json",
]
WEIGHT_FILES = ["*.safetensors", "*.safetensors.index.json", "generation_config.json"]
NOT_GGUF_MODELS = {"general", "tokenizer", "t5", "umt5"}  # mapping entries that are not causal LMs
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
# A branch, tag or commit ("main", "v1.0", "refs/pr/3", a hash): never a path that leaves the hub cache
REVISION = re.compile(r"^(?!.*\.\.)\w[\w.\-]*(?:/[\w.\-]+)*$")


@dataclass(frozen=True)
class Source:
    """A resolved model source: a local directory (and GGUF file name) ready to load."""

    spec: str
    kind: SourceKind
    path: Path
    gguf_file: str | None = None

    @property
    def label(self) -> str:
        return self.spec


def same_model(recorded: str, source: Source) -> bool:
    """Whether a model named in a report (a spec as typed, or a path) is ``source``."""
    if recorded == source.spec:
        return True
    path = Path(recorded).expanduser()
    return path.exists() and path.resolve() == source.path.resolve()


def split_revision(spec: str) -> tuple[str, str | None]:
    """``org/name@rev`` to (``org/name``, ``rev``)."""
    if "@" in spec and (reach.current().public or not Path(spec).exists()):  # public: no probing of its disk
        name, revision = spec.rsplit("@", 1)
        if not revision.strip():
            raise VocabLabError(
                f"{spec!r} ends with '@' but names no revision: add a branch, tag or commit, or drop the '@'"
            )
        return name, revision
    return spec, None


def resolve(
    spec: str | os.PathLike | Source,
    *,
    need: Need = "tokenizer",
    revision: str | None = None,
    token: str | None = None,
    trust_remote_code: bool = False,
) -> Source:
    """Turn what a user typed into a local :class:`Source`, fetching what is missing (a hub
    repository's Python files only when ``trust_remote_code`` allows running them). A Source is
    returned as it is. What may be opened beyond presets and hub ids is the policy in force
    (:func:`vocablab.reach.current`)."""
    if isinstance(spec, Source):
        return spec
    spec = str(spec or "").strip()
    if not spec:
        raise VocabLabError("no model given: type a preset name, a local path or a hub id")
    if is_preset(spec):
        if need == "model" and spec in TOKENIZER_PRESETS:
            raise VocabLabError(
                f"{spec!r} is a tokenizer-only preset; this needs model weights "
                f"(model presets: {', '.join(MODEL_PRESETS)})"
            )
        return Source(spec, "preset", ensure_preset(spec))
    policy = reach.current()
    path = policy.named(spec)  # a name the application gives its own outputs
    if path is not None:
        check_local_dir(path, need)
        return Source(spec, "local", path)
    public = policy.public  # a visitor reaches nothing on the server's disk but their own outputs
    path = Path(spec).expanduser()
    if not public and path.is_file():
        if path.suffix != ".gguf":
            raise VocabLabError(f"{spec}: not a .gguf file; give a model folder or a GGUF file")
        check_gguf(path)
        return Source(spec, "gguf", path.parent, gguf_file=path.name)
    if not public and path.is_dir():
        check_local_dir(path, need)
        return Source(spec, "local", path)
    name, rev = split_revision(spec)
    if public and not HUB_ID.match(name):
        raise VocabLabError(
            f"{spec!r}: this public app opens presets, hub ids (org/name) and the models you made here "
            f"({policy.names_hint}), not paths on its server"
        )
    if not HUB_ID.match(name):
        raise VocabLabError(f"{spec!r} is not a preset, an existing local path or a hub id like 'org/name'")
    revision = revision or rev or None
    if revision is not None and (len(revision) > 200 or not REVISION.match(revision)):
        raise VocabLabError(f"{revision!r} is not a revision (a branch, a tag or a commit hash)")
    local = download_from_hub(name, revision, need, token, code=may_run_code(trust_remote_code))
    return Source(spec, "hub", local)


def may_run_code(trust_remote_code: bool) -> bool:
    """A repository's own Python code runs only when the user asks, and never in a public app."""
    return trust_remote_code and not reach.current().public


def _code_hint(source: Source) -> str:
    """Why a model whose config names its own Python code (``auto_map``) may not have loaded."""
    try:
        custom = "auto_map" in json.loads((source.path / "config.json").read_text())
    except (OSError, ValueError):
        custom = False
    if not custom:
        return ""
    if reach.current().public:
        return "; it needs its repository's own Python code, which this public app never runs"
    return "; it needs its repository's own Python code: pass --trust-remote-code if you trust it"


def check_local_dir(path: Path, need: Need) -> None:
    names = {p.name for p in path.iterdir()}
    if not names & {"tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json"}:
        ggufs = sorted(path.glob("*.gguf"))
        hint = f"; did you mean the GGUF file {ggufs[0]}?" if ggufs else ""
        raise VocabLabError(f"{path}: this folder has no tokenizer files{hint}")
    if need == "model":
        check_causal_lm(path)
        if not any(path.glob("*.safetensors")):
            pickles = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt")]
            extra = f" (found {pickles[0]}; pickled weights are never loaded)" if pickles else ""
            raise VocabLabError(f"{path}: no .safetensors weights{extra}")
        check_shard_index(path)


def check_shard_index(path: Path) -> None:
    """An index of weight shards may name safetensors files in the folder only: transformers would
    unpickle any other file it names (``torch.load``), whatever ``use_safetensors`` says."""
    for index in path.glob("*.safetensors.index.json"):
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise VocabLabError(f"{index}: not a valid index of weight shards ({type(exc).__name__})") from exc
        bad = sorted(str(s) for s in shards if not (isinstance(s, str) and s.endswith(".safetensors") and "/" not in s))
        if bad:
            raise VocabLabError(
                f"{index}: names {bad[0]!r} as a shard; only .safetensors files in the folder are loaded"
            )


def check_causal_lm(path: Path) -> None:
    """Refuse configs that are not causal language models before loading any weights."""
    config_path = path / "config.json"
    if not config_path.is_file():
        raise VocabLabError(f"{path}: no config.json, so this is not a loadable model")
    try:
        config = json.loads(config_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise VocabLabError(f"{path}: config.json is not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise VocabLabError(f"{path}: config.json does not hold a JSON object")
    archs = config.get("architectures") or []
    if archs and not any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in archs):
        raise VocabLabError(f"{path}: architecture {', '.join(archs)} is not a causal language model")


def check_gguf(path: Path) -> None:
    """A GGUF file must be readable and of an architecture transformers can load."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode("utf-8")
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a usable GGUF"
        raise VocabLabError(f"{path}: not a readable GGUF file ({type(exc).__name__})") from exc
    supported = {a.replace("_", "") for a in GGUF_CONFIG_MAPPING if a not in NOT_GGUF_MODELS}
    if arch.replace("_", "") not in supported:
        raise VocabLabError(
            f"{path}: GGUF architecture {arch!r} is not supported by transformers "
            f"(supported: {', '.join(sorted(GGUF_CONFIG_MAPPING))})"
        )


def download_from_hub(name: str, revision: str | None, need: Need, token: str | None, code: bool = False) -> Path:
    """Download only the files ``need`` asks for (and the repository's Python files when ``code``);
    hub tokens are passed on, never logged."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    patterns = TOKENIZER_FILES + (WEIGHT_FILES if need == "model" else []) + (["*.py"] if code else [])
    LOG.info("downloading %s (revision %s, %s files) from the hub", name, revision or "default", need)
    auth = token or (False if reach.current().public else None)  # a public app never lends its own token
    try:
        local = Path(
            snapshot_download(
                name, revision=revision, allow_patterns=patterns, token=auth, cache_dir=tokenless_cache(auth)
            )
        )
    except GatedRepoError as exc:
        raise VocabLabError(_gated(name, auth)) from exc
    except RevisionNotFoundError as exc:
        raise VocabLabError(_no_revision(name, revision, auth)) from exc
    except RepositoryNotFoundError as exc:
        refs = _refs(name, auth) if revision else None  # some servers answer a bad revision this way
        if refs is not None:
            raise VocabLabError(_no_revision(name, revision, auth, refs)) from exc
        raise VocabLabError(f"{name}: no such model on the Hugging Face hub (or it is private)") from exc
    except LocalEntryNotFoundError as exc:
        raise VocabLabError(
            f"{name}: the Hugging Face hub cannot be reached (no network?) and the model is not in "
            "the local hub cache; use a preset or a local folder"
        ) from exc
    except (OSError, ValueError) as exc:  # connection errors of the HTTP client land here
        raise VocabLabError(
            f"{name}: download from the Hugging Face hub failed ({type(exc).__name__}); "
            "check the network, or use a preset or a local folder"
        ) from exc
    cache = Path(tokenless_cache(auth) or constants.HF_HUB_CACHE).resolve()
    if not local.resolve().is_relative_to(cache):  # the client follows a cached ref file it trusts
        raise VocabLabError(f"{name}: the hub cache points outside itself; refusing it")
    if need == "model" and not any(local.glob("*.safetensors")):
        raise VocabLabError(_no_safetensors(name, revision, auth))
    check_local_dir(local, need)
    return local


def _no_safetensors(name: str, revision: str | None, token) -> str:
    from huggingface_hub import HfApi

    try:
        files = HfApi().list_repo_files(name, revision=revision, token=token)
    except Exception:  # noqa: BLE001 - the message stands without the list
        files = []
    pickles = [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt"))]
    found = f" (it has {', '.join(pickles[:3])}; pickled weights are never loaded)" if pickles else ""
    return f"{name}: no .safetensors weights{found}"


def tokenless_cache(token: str | bool | None) -> str | None:
    """Where downloads made without any token go: a hub cache of their own (beside the usual one),
    so that a public app never hands a visitor gated files the server once fetched with its owner's
    token (the hub client falls back to cached files when a download is refused)."""
    if token is not False:
        return None
    from huggingface_hub import constants

    return str(Path(constants.HF_HUB_CACHE).parent / "hub-tokenless")


def _gated(name: str, token: str | bool | None) -> str:
    from huggingface_hub import get_token

    if token is False:
        return (
            f"{name} is gated on the Hugging Face hub, and this public app loads models without a hub "
            "token; run vocablab on your own machine with HF_TOKEN set to a token that has access"
        )
    if token or get_token():
        return (
            f"{name} is gated on the Hugging Face hub and the token in use (HF_TOKEN, or your login) has "
            "no access to it: accept its conditions on its hub page with that account"
        )
    return (
        f"{name} is gated on the Hugging Face hub: accept its conditions on its hub page, then set "
        "HF_TOKEN to a token of that account"
    )


def _refs(name: str, token) -> list[str] | None:
    """The branch and tag names of a hub repository, or None when it cannot be listed."""
    from huggingface_hub import HfApi

    try:
        refs = HfApi().list_repo_refs(name, token=token)
    except Exception:  # noqa: BLE001 - any failure means "cannot tell"
        return None
    return [ref.name for ref in (*refs.branches, *refs.tags)]


def _no_revision(name: str, revision: str | None, token, refs: list[str] | None = None) -> str:
    refs = _refs(name, token) if refs is None else refs
    known = f" (branches and tags: {', '.join(refs[:10])}; or a commit hash)" if refs else ""
    return f"{name} exists, but it has no revision {revision!r}{known}"


@lru_cache(maxsize=32)
def _load_vocabulary(source: Source, trust_remote_code: bool) -> Vocabulary:
    from transformers import AutoTokenizer

    kwargs = {"trust_remote_code": trust_remote_code}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    started = time.perf_counter()
    if (
        not source.gguf_file
        and (source.path / "tokenizer.model").is_file()
        and not (source.path / "tokenizer.json").is_file()
    ):
        raise VocabLabError(
            f"{source.spec} has a SentencePiece tokenizer.model but no tokenizer.json: vocablab reads the fast "
            "tokenizer file (tokenizer.json) that hub repositories ship; use a revision or copy of this model "
            "that has one"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.path, **kwargs)
        if _declares_file_as_is(source) and type(tokenizer).__name__ != "TokenizersBackend":
            tokenizer = _file_as_is(source.path, kwargs)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for bad folders
        raise VocabLabError(
            f"{source.spec}: the tokenizer could not be loaded ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''})"
        ) from exc
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise VocabLabError(f"{source.spec}: only fast (tokenizers-backed) tokenizers are supported")
    roles = {
        "bos": tokenizer.bos_token_id,
        "eos": tokenizer.eos_token_id,
        "pad": tokenizer.pad_token_id,
        "unk": tokenizer.unk_token_id,
    }
    vocabulary = Vocabulary.from_backend(
        backend, name=source.label, roles=roles, chat_template=getattr(tokenizer, "chat_template", None)
    )
    vocabulary.chat_renderer = tokenizer  # its apply_chat_template renders in a jinja2 sandbox
    vocabulary.declared_ends = _declared_ends(source)
    LOG.info(
        "%s: tokenizer loaded from %s (%s tokens) in %.1f s",
        source.spec,
        source.path / (source.gguf_file or ""),
        f"{len(vocabulary):,}",
        time.perf_counter() - started,
    )
    return vocabulary


def _declares_file_as_is(source: Source) -> bool:
    """Whether a folder's tokenizer_config.json names the class that reads tokenizer.json as is.

    transformers 5 overrides that for some model types (a config.json saying qwen2 gets
    Qwen2Tokenizer, which rebuilds the tokenizer with Qwen's normalizer and pre-tokenizer and adds
    <|endoftext|>): a transplant onto a Qwen2 base holds another family's tokenizer.json."""
    path = source.path / "tokenizer_config.json"
    if source.gguf_file or not path.is_file():
        return False
    try:
        declared = json.loads(path.read_text()).get("tokenizer_class")
    except (ValueError, AttributeError):
        return False
    return declared in ("TokenizersBackend", "PreTrainedTokenizerFast")


def _file_as_is(path: Path, kwargs: dict):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(path, **kwargs)


def _declared_ends(source: Source) -> frozenset[int]:
    """The eos ids a model folder's generation_config.json declares (one id or a list)."""
    path = source.path / "generation_config.json"
    if source.gguf_file or not path.is_file():
        return frozenset()
    try:
        ends = json.loads(path.read_text()).get("eos_token_id")
    except (ValueError, AttributeError):
        return frozenset()
    ends = ends if isinstance(ends, list) else [ends]
    return frozenset(i for i in ends if isinstance(i, int))


def load_vocabulary(
    spec: str | Source,
    *,
    trust_remote_code: bool = False,
    token: str | None = None,
) -> Vocabulary:
    """The byte view of any source's tokenizer (cached per source within the process)."""
    source = resolve(spec, token=token, trust_remote_code=trust_remote_code)
    return _load_vocabulary(source, may_run_code(trust_remote_code))


def as_vocabularies(items) -> list[Vocabulary]:
    """Vocabularies as given, or loaded from what names them (a model id, a path, a Source)."""
    if isinstance(items, (str, Vocabulary)) or not hasattr(items, "__iter__"):
        raise VocabLabError(f"give a list of vocabularies or model ids, not a {type(items).__name__}")
    return [v if isinstance(v, Vocabulary) else load_vocabulary(v) for v in items]


def torch_device(choice: str):
    """ "auto" (a GPU when there is one, else the CPU), "cpu" or "cuda", checked before any work starts."""
    import torch

    if choice not in DEVICES:
        raise VocabLabError(f"unknown device {choice!r}; use one of {', '.join(DEVICES)}")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise VocabLabError("the CUDA device was asked for, but no CUDA GPU is available")
    return torch.device(choice)


def load_causal_lm(
    spec: str | Source,
    *,
    trust_remote_code: bool = False,
    token: str | None = None,
    device: str = "auto",
    dtype=None,
):
    """A causal LM from safetensors or GGUF; ``device="auto"``: on the GPUs when present (with
    ``device_map="auto"``, so a model too large for one device is split), else on the CPU."""
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    target = torch_device(device)  # before any download or load
    source = resolve(spec, need="model", token=token, trust_remote_code=trust_remote_code)
    kwargs = {"trust_remote_code": may_run_code(trust_remote_code), "dtype": dtype or torch.float32}
    if device == "auto" and torch.cuda.is_available():
        kwargs["device_map"] = "auto"  # spread over the GPUs (and the CPU) when one device is too small
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    else:
        kwargs["use_safetensors"] = True
    try:
        model = AutoModelForCausalLM.from_pretrained(source.path, **kwargs)
    except (ValueError, KeyError, OSError, SafetensorError) as exc:  # unknown architecture, no custom code, bad files
        raise VocabLabError(
            f"{source.spec}: cannot load as a causal LM ({str(exc)[:300]}){_code_hint(source)}"
        ) from exc
    check_rows(model, source, trust_remote_code)
    if "device_map" not in kwargs:
        model = model.to(target)
    return model.eval()


def check_rows(model, source: Source, trust_remote_code: bool = False) -> int:
    """The rows of the model's embedding; refuses a model whose embedding cannot hold its tokenizer's ids."""
    rows = model.get_input_embeddings().num_embeddings
    largest = max(load_vocabulary(source, trust_remote_code=trust_remote_code).text_ids, default=-1)
    if largest >= rows:
        raise VocabLabError(
            f"{source.spec}: its tokenizer has ids up to {largest:,} but the model's embedding has {rows:,} rows; "
            "the tokenizer and the weights do not belong together"
        )
    return rows


def causal_lm(spec: str | os.PathLike | Source, model=None, *, device: str = "auto", trust_remote_code: bool = False):
    """``model`` when one is given, checked to be ``spec``'s (its embedding holds the tokenizer's
    ids and has the rows ``spec``'s config declares), else ``spec``'s model (:func:`load_causal_lm`)."""
    if model is None:
        return load_causal_lm(spec, device=device, trust_remote_code=trust_remote_code)
    source = resolve(spec, need="model", trust_remote_code=trust_remote_code)
    if not hasattr(model, "get_input_embeddings"):
        raise VocabLabError(f"model= takes a loaded causal LM (load_causal_lm), not a {type(model).__name__}")
    rows = check_rows(model, source, trust_remote_code)
    declared = _declared_vocab_size(source)
    if declared is not None and declared != rows:
        raise VocabLabError(
            f"the model given for {source.spec} has {rows:,} embedding rows, but {source.spec}'s config "
            f"declares {declared:,}: pass {source.spec}'s own model"
        )
    return model


def causal_lms(specs: list, models=None, *, device: str = "auto", trust_remote_code: bool = False) -> list:
    """:func:`causal_lm` for each spec, with the models given in the same order (or none)."""
    if models is not None and len(models) != len(specs):
        raise VocabLabError(f"{len(models)} models given for {len(specs)} model ids")
    given = models if models is not None else [None] * len(specs)
    return [
        causal_lm(s, m, device=device, trust_remote_code=trust_remote_code) for s, m in zip(specs, given, strict=True)
    ]


def _declared_vocab_size(source: Source) -> int | None:
    try:
        config = json.loads((source.path / "config.json").read_text())
    except (OSError, ValueError):
        return None  # a GGUF file, say: its tokenizer check is all there is
    if not isinstance(config, dict):
        return None
    size = config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size")
    return size if isinstance(size, int) else None
