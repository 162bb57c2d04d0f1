"""What a model conditions on: the prompt as its tokens up to a boundary later text cannot move and the
bytes after it (prompt healing), or the prompt in the model's chat template."""

from __future__ import annotations

import json
from dataclasses import dataclass

from vocablab.chat import render_chat
from vocablab.errors import VocabLabError
from vocablab.options import check_length
from vocablab.vocab import Vocabulary

MAX_TAIL_BYTES = 64  # the longest prompt end conditioned on as text (split_prompt)


@dataclass(frozen=True)
class PromptSplit:
    """A prompt as the model's tokens up to its last boundary that no later text can move, and the
    bytes after it, which the cover is conditioned on (:meth:`ReducedModel.condition`)."""

    ids: list[int]
    tail: bytes
    boundary: int  # characters of the prompt before the tail (of ``normalized`` when it is set)
    normalized: str | None = None  # the prompt as the tokenizer makes of it, when that changes its bytes

    @property
    def tail_text(self) -> str:
        return self.tail.decode("utf-8", errors="replace")


def split_prompt(vocab: Vocabulary, prompt: str) -> PromptSplit:
    """Back the prompt off to a boundary later text cannot move, when the model's tokens of the text
    before it are the first tokens of the whole prompt; else to the start of the prompt:
    - with a pre-tokenizer and a normalizer that leaves the prompt as it is, if any (byte-level
      BPE; Qwen's NFC), the start of its last pre-tokenizer piece (later text can only extend that
      piece or start new ones);
    - with a normalizer that only writes spaces as "▁" (SentencePiece: Gemma, Mistral), the last
      point between two bytes that no token holds together (``Vocabulary.byte_pairs``: in Gemma, a
      letter and the space after it), which no tokenization can cross.
    Other prompts, and those that are not valid Unicode (a cut UTF-8 character), are backed off to
    the start. A dummy-prefix tokenizer's leading space is part of the tail then. The prompt is first
    taken as the tokenizer makes of it (:func:`as_tokenized`): the model conditions on that text.

    >>> from vocablab.sources import load_vocabulary
    >>> split = split_prompt(load_vocabulary("smollm2-135m"), "The capital of France is ")
    >>> split.boundary, split.tail
    (24, b' ')
    >>> split_prompt(load_vocabulary("gemma3-270m"), "The capital of France is").tail
    b' is'
    """
    typed, prompt = prompt, as_tokenized(vocab, prompt)
    backend, boundary = vocab.backend, 0
    try:
        data = prompt.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8 (surrogateescape)
        data = None
    normalizer = backend.normalizer
    if (
        data
        and backend.pre_tokenizer is not None
        and (normalizer is None or normalizer.normalize_str(prompt) == prompt)
    ):
        pieces = backend.pre_tokenizer.pre_tokenize_str(prompt)
        boundary = pieces[-1][1][0] if pieces else 0
    elif data and _marks_spaces(normalizer):
        boundary = _uncrossed(vocab, prompt)
    if boundary:
        head = vocab.encode(prompt[:boundary])
        if vocab.encode(prompt)[: len(head)] != head:
            boundary = 0
    if data and len(data) - len(prompt[:boundary].encode("utf-8")) > MAX_TAIL_BYTES:
        boundary = _short_tail(vocab, prompt)
    tail = prompt[boundary:].encode("utf-8", errors="surrogateescape")
    if boundary == 0 and vocab.dummy_prefix and tail:
        tail = b" " + tail
    normalized = None if prompt == typed else prompt
    return PromptSplit([vocab.start_id, *vocab.encode(prompt[:boundary])], tail, boundary, normalized)


def as_tokenized(vocab: Vocabulary, prompt: str) -> str:
    """What the model's tokenizer makes of ``prompt``: the text its tokens spell. A normalizer may
    have rewritten it (Qwen's NFC composes "e" and a combining accent into "é"; a lower-casing one
    lowers it); the model conditions on that text, not on the typed one. A cut UTF-8 character at
    the end (not valid Unicode, kept as surrogates) is kept as it is after the text before it."""
    cut = next((i for i, char in enumerate(prompt) if "\ud800" <= char <= "\udfff"), len(prompt))
    if not cut:
        return prompt
    spelled = vocab.text_bytes(vocab.encode(prompt[:cut])).decode("utf-8", errors="surrogateescape")
    return spelled + prompt[cut:]


def _short_tail(vocab: Vocabulary, prompt: str) -> int:
    """A boundary for a tail longer than :data:`MAX_TAIL_BYTES` (one pre-tokenizer piece of a long
    run of text without a split: Chinese, a long number): the first start of one of the prompt's own
    tokens within that many bytes of its end whose tokens before it are the prompt's first tokens; the
    end of the prompt (nothing healed) if there is none. Conditioning on all of a long tail would take
    a forward pass per byte, and every tokenization of it is rarely what continues it."""
    ids = vocab.encode(prompt)
    data = prompt.encode("utf-8")
    chars, offset = {0: 0}, 0  # byte offset -> character offset
    for n, char in enumerate(prompt, 1):
        offset += len(char.encode("utf-8"))
        chars[offset] = n
    for start, _ in vocab.byte_spans(ids):
        if start >= len(data) - MAX_TAIL_BYTES and start in chars:
            head = vocab.encode(prompt[: chars[start]])
            if ids[: len(head)] == head:
                return chars[start]
    return len(prompt)


def _marks_spaces(normalizer) -> bool:
    """Whether ``normalizer`` only replaces spaces by "▁" and may put one in front, so that tokens
    still spell the text's own bytes."""
    if normalizer is None:
        return False
    state = json.loads(normalizer.__getstate__())
    steps = state["normalizers"] if state["type"] == "Sequence" else [state]
    return all(
        (step["type"] == "Replace" and step["pattern"] == {"String": " "} and step["content"] == "▁")
        or (step["type"] == "Prepend" and step["prepend"] == "▁")
        for step in steps
    )


def _uncrossed(vocab: Vocabulary, prompt: str) -> int:
    """The last character offset of ``prompt`` (0 if none) between two bytes no token holds together."""
    for i in range(len(prompt) - 1, 0, -1):
        if (prompt[i - 1].encode()[-1:] + prompt[i].encode()[:1]) not in vocab.byte_pairs:
            return i
    return 0


def prompt_ids(vocab: Vocabulary, prompt: str, chat: bool = False) -> list[int]:
    """The prompt as the model's own tokens: its start token, then the text (or its chat template)."""
    if chat:
        if not vocab.chat_template or vocab.chat_renderer is None:
            raise VocabLabError(f"{vocab.name} has no chat template; generate without chat")
        text = render_chat(vocab, [{"role": "user", "content": prompt}], add_generation_prompt=True)
        return vocab.encode(text)
    return [vocab.start_id, *vocab.encode(prompt)]


def _split(vocab: Vocabulary, prompt: str, chat: bool, heal: bool) -> PromptSplit:
    """The prompt healed (:func:`split_prompt`), or as its canonical tokens with nothing to condition on."""
    check_length(prompt, what="prompt")
    if heal and not chat:
        return split_prompt(vocab, prompt)
    normalized = as_tokenized(vocab, prompt)
    ids = prompt_ids(vocab, prompt, chat)
    return PromptSplit(ids, b"", len(prompt), None if normalized == prompt else normalized)
