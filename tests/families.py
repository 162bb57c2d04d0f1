"""Tiny random models of real architectures, each saved with a real preset tokenizer.

    folders = build_families(tmp_path)          # {family name: model folder}
    folder = build_family(FAMILIES["qwen2"], tmp_path / "qwen2")

Each model has 2 layers and hidden size 32, random weights from a fixed seed, and the shapes its
family ships with: a head padded past the tokenizer (Qwen2.5, Phi-3, Pythia), a tokenizer larger
than the embedding (Gemma 3), tied and untied heads, tensors under each family's own names
(GPT-2's ``wte``, GPT-NeoX's ``embed_in``/``embed_out``, Phi-3's fused ``qkv_proj``/``gate_up_proj``).
The folders hold safetensors weights from ``save_pretrained`` and the preset's tokenizer files, so
every vocablab command opens them as a user's local model folder. A plain module: tests and
benchmarks import it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vocablab.sources import load_vocabulary, resolve

HIDDEN, LAYERS, CONTEXT = 32, 2, 256

# Phi-3-mini's chat tokens, added to the Llama-2-style (mistral) tokenizer as Phi-3 adds them
PHI3_ADDED = ["<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"]
# A chat template in Phi-3's format (written here, not copied)
PHI3_TEMPLATE = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '<|end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Family:
    """One architecture with one preset tokenizer."""

    name: str
    architecture: str  # the transformers class, as config.json names it
    tokenizer: str  # a tokenizer preset
    tied: bool
    rows: int | None = None  # embedding rows; None: the tokenizer's size
    added: tuple[str, ...] = ()  # special tokens added to the preset's tokenizer
    chat_template: str | None = None  # replaces the preset's (None keeps it)
    seed: int = 0
    config: dict = field(default_factory=dict)  # the architecture's own settings


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        # Qwen2.5's head: 152,064 rows for its 151,665 ids (the qwen3 tokenizer has 151,669)
        Family("qwen2", "Qwen2ForCausalLM", "qwen3", tied=True, rows=152_064, seed=1),
        Family("llama3", "LlamaForCausalLM", "llama3", tied=False, seed=2),
        Family("deepseek", "LlamaForCausalLM", "deepseek-v3", tied=True, seed=3),
        Family("mistral", "MistralForCausalLM", "mistral", tied=False, seed=4),
        # Gemma 3's embedding has 262,144 rows; its tokenizer one id more (an image token)
        Family("gemma3", "Gemma3ForCausalLM", "gemma3", tied=True, rows=262_144, seed=5, config={"head_dim": 8}),
        Family("gpt2", "GPT2LMHeadModel", "gpt2", tied=True, seed=6),
        # Phi-3-mini: the Llama-2 tokenizer, its chat tokens added, the head padded to 32,064 rows
        Family(
            "phi3",
            "Phi3ForCausalLM",
            "mistral",
            tied=False,
            rows=32_064,
            added=tuple(PHI3_ADDED),
            chat_template=PHI3_TEMPLATE,
            seed=7,
        ),
        # Pythia's shape (GPT-NeoX, untied, 50,304 rows) with the gpt2 tokenizer
        Family("gptneox", "GPTNeoXForCausalLM", "gpt2", tied=False, rows=50_304, seed=8),
    )
}


def _config(family: Family, rows: int, roles: dict[str, int | None]):
    """The transformers config of ``family``: 2 layers, hidden size 32, the tokenizer's roles."""
    import transformers

    ids = {f"{role}_token_id": roles.get(role) for role in ("bos", "eos", "pad")}
    common = {"vocab_size": rows, "tie_word_embeddings": family.tied, **ids}
    if family.architecture == "GPT2LMHeadModel":
        return transformers.GPT2Config(n_embd=HIDDEN, n_layer=LAYERS, n_head=2, n_positions=CONTEXT, **common)
    llama_like = {
        "hidden_size": HIDDEN,
        "intermediate_size": 2 * HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": 4,
        "max_position_embeddings": CONTEXT,
    }
    if family.architecture == "GPTNeoXForCausalLM":
        return transformers.GPTNeoXConfig(**llama_like, **common, **family.config)
    configs: dict[str, Callable] = {
        "Qwen2ForCausalLM": transformers.Qwen2Config,
        "LlamaForCausalLM": transformers.LlamaConfig,
        "MistralForCausalLM": transformers.MistralConfig,
        "Gemma3ForCausalLM": transformers.Gemma3TextConfig,
        "Phi3ForCausalLM": transformers.Phi3Config,
    }
    extra = {"original_max_position_embeddings": CONTEXT} if family.architecture == "Phi3ForCausalLM" else {}
    return configs[family.architecture](num_key_value_heads=2, **llama_like, **common, **extra, **family.config)


def _write_tokenizer(family: Family, folder: Path) -> None:
    """The preset's tokenizer files, with the family's added tokens and chat template."""
    from tokenizers import AddedToken, Tokenizer

    source = resolve(family.tokenizer).path
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, folder / name)
    if family.added:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in family.added])
        tokenizer.save(str(folder / "tokenizer.json"))
    if family.chat_template is not None:
        config = json.loads((folder / "tokenizer_config.json").read_text())
        config["chat_template"] = family.chat_template
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1))


def build_family(family: Family, folder: Path) -> Path:
    """Save ``family``'s tiny random model and its tokenizer files into ``folder`` (a new folder)."""
    from transformers import AutoModelForCausalLM

    folder.mkdir(parents=True)
    _write_tokenizer(family, folder)
    vocab = load_vocabulary(str(folder))
    rows = family.rows or len(vocab)
    torch.manual_seed(family.seed)
    model = AutoModelForCausalLM.from_config(_config(family, rows, vocab.roles))
    if type(model).__name__ != family.architecture:
        raise AssertionError(f"{family.name}: built {type(model).__name__}, not {family.architecture}")
    with torch.no_grad():  # rows with very different norms, as in trained embeddings
        model.get_input_embeddings().weight.mul_(torch.rand(rows, 1) * 3 + 0.1)
    model.save_pretrained(folder)
    return folder


def build_families(root: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Every family (or those ``names``) built under ``root``, one folder each."""
    return {name: build_family(FAMILIES[name], root / name) for name in names or FAMILIES}


class FamilyFolders:
    """Each family's folder under ``root``, built on first use (one build per family per test session:
    tests/conftest.py's ``family_folders`` fixture hands the same object to every test file)."""

    def __init__(self, root: Path) -> None:
        self.root, self.folders = root, {}

    def __call__(self, name: str) -> str:
        if name not in self.folders:
            self.folders[name] = build_family(FAMILIES[name], self.root / name)
        return str(self.folders[name])
