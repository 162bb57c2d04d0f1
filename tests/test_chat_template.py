"""Chat prompts render through the tokenizer's own apply_chat_template (a jinja2 sandbox)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vocablab.errors import VocabLabError
from vocablab.presets import ensure_preset
from vocablab.reduce.prompt import prompt_ids
from vocablab.sources import load_vocabulary

pytestmark = pytest.mark.real  # preset tokenizers or models

# Reaches from a string to every class the interpreter has loaded: the first step of escaping a
# template. A plain jinja2.Template renders it; a sandbox refuses it.
ESCAPE = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
# Gemma's turn format, written here for the test: it needs bos_token from the renderer.
GEMMA_STYLE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>{{ message['role'] }}\n"
    "{{ message['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def with_template(preset: str, folder: Path, template: str) -> str:
    """The preset's tokenizer files, with ``template`` as its chat template."""
    source = ensure_preset(preset)
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, folder / name)
    (folder / "chat_template.jinja").write_text(template)
    return str(folder)


def test_a_template_reaching_for_python_internals_is_refused(tmp_path):
    vocab = load_vocabulary(with_template("smollm2-135m", tmp_path / "escape", ESCAPE))
    with pytest.raises(VocabLabError, match=r"chat template could not be rendered \(SecurityError"):
        prompt_ids(vocab, "hello", chat=True)


def test_gemma_chat_prompt_starts_with_bos(tmp_path):
    vocab = load_vocabulary(with_template("gemma3-270m", tmp_path / "gemma-chat", GEMMA_STYLE))
    ids = prompt_ids(vocab, "hello", chat=True)
    assert vocab.strings[ids[0]] == "<bos>" and ids[0] == vocab.roles["bos"]
    assert vocab.decode(ids[1:]) == "<start_of_turn>user\nhello<end_of_turn>\n<start_of_turn>model\n"


def test_smollm2_own_template(tmp_path):
    """The preset's real template: a system turn is added when the user gives none."""
    vocab = load_vocabulary("smollm2-135m")
    text = vocab.decode(prompt_ids(vocab, "hello", chat=True))
    assert text.startswith("<|im_start|>system\n") and text.endswith(
        "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    )


def test_a_template_that_fails_names_the_model_and_the_reason(tmp_path):
    broken = "{% for message in messages %}{{ message['content'] | no_such_filter }}{% endfor %}"
    vocab = load_vocabulary(with_template("smollm2-135m", tmp_path / "broken", broken))
    with pytest.raises(VocabLabError, match=r"broken: its chat template could not be rendered \(.*no_such_filter"):
        prompt_ids(vocab, "hello", chat=True)


def test_a_template_that_loops_for_ever_is_stopped(tmp_path):
    """The sandbox bounds what a template reaches (range() at 100,000), not how long it runs: 10^10 steps."""
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    vocab = load_vocabulary(with_template("smollm2-135m", tmp_path / "loop", loop))
    with pytest.raises(VocabLabError, match="chat template ran for more than"):
        prompt_ids(vocab, "hello", chat=True)
