"""Chat prompts rendered by each tokenizer's own chat template: messages in, the prompt text and its
tokens out. Templates run only through transformers' ``apply_chat_template`` (a jinja2 sandbox), with
a time limit, since a template comes with whatever tokenizer a visitor names.

>>> from vocablab import load_vocabulary
>>> prompt = chat_prompt(load_vocabulary("qwen3"), [{"role": "user", "content": "Hi"}])
>>> prompt.text
'<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vocablab.compare import TokenizedText, tokenize_text
from vocablab.errors import VocabLabError
from vocablab.options import check_length
from vocablab.vocab import Vocabulary

CHAT_TEMPLATE_SECONDS = 5  # a chat template renders in milliseconds; a longer one is stopped
EXAMPLE_MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "What is 12,345 + 1?"},
    {"role": "assistant", "content": "12,346"},
    {"role": "user", "content": "And in words?"},
]


@contextmanager
def deadline_in(filename: str, seconds: float) -> Iterator[None]:
    """Raise TimeoutError in code compiled from ``filename`` (jinja2 compiles templates from
    "<template>") once it has run ``seconds``: the sandbox bounds what a template may reach, not how
    long it loops. Only this thread is traced, and only that code line by line."""
    deadline = time.monotonic() + seconds

    def on_line(frame, event, arg):
        if time.monotonic() > deadline:
            raise TimeoutError
        return on_line

    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: on_line if frame.f_code.co_filename == filename else None)
    try:
        yield
    finally:
        sys.settrace(previous)


def parse_messages(text: str) -> list[dict[str, str]]:
    """Chat messages from JSON: a list of ``{"role": ..., "content": ...}`` objects."""
    check_length(text or "", what="messages")
    try:
        messages = json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise VocabLabError(
            f"the messages are not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            'write a list such as [{"role": "user", "content": "Hi"}]'
        ) from None
    if not isinstance(messages, list) or not messages:
        raise VocabLabError('the messages must be a non-empty JSON list such as [{"role": "user", "content": "Hi"}]')
    for n, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise VocabLabError(f'message {n} is not an object with a "role" and a "content"')
        for key in ("role", "content"):
            if not isinstance(message.get(key), str):
                raise VocabLabError(f'message {n} has no {key!r} text (each message needs "role" and "content")')
        if not message["role"].strip():
            raise VocabLabError(f"message {n} has an empty role (system, user, assistant, ...)")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def render_chat(vocab: Vocabulary, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The prompt ``vocab``'s own chat template makes of ``messages``, rendered by its tokenizer's
    ``apply_chat_template`` (a jinja2 sandbox, with bos_token and the other variables it expects)."""
    if not vocab.chat_template or vocab.chat_renderer is None:
        raise VocabLabError(f"{vocab.name} has no chat template")
    try:
        with deadline_in("<template>", CHAT_TEMPLATE_SECONDS):
            return vocab.chat_renderer.apply_chat_template(
                messages, add_generation_prompt=add_generation_prompt, tokenize=False
            )
    except TimeoutError as exc:
        raise VocabLabError(
            f"{vocab.name}: its chat template ran for more than {CHAT_TEMPLATE_SECONDS} s and was stopped"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - jinja2's SecurityError and TemplateError, or the template's own
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise VocabLabError(
            f"{vocab.name}: its chat template could not be rendered ({type(exc).__name__}: {reason})"
        ) from exc


@dataclass
class ChatPrompt:
    name: str
    text: str | None  # the rendered prompt; None when the tokenizer could not render one
    tokenized: TokenizedText | None
    problem: str | None = None  # why there is no prompt: no chat template, or the template refused

    def to_dict(self) -> dict:
        out = {"name": self.name, "text": self.text, "problem": self.problem}
        if self.tokenized is not None:
            out |= {"ids": self.tokenized.ids, "n_tokens": self.tokenized.n_tokens}
            out["n_special"] = self.tokenized.n_special
        return out


def chat_prompt(vocab: Vocabulary, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> ChatPrompt:
    """The rendered prompt and its tokens (the special tokens it writes read as such, nothing added:
    what ``apply_chat_template(..., tokenize=True)`` gives); a tokenizer without a template, or whose
    template refuses the messages (roles that must alternate), says so instead."""
    try:
        text = render_chat(vocab, messages, add_generation_prompt)
    except VocabLabError as exc:
        return ChatPrompt(vocab.name, None, None, str(exc))
    return ChatPrompt(vocab.name, text, tokenize_text(vocab, text, add_special_tokens=False, parse_special_tokens=True))
