"""A transformers causal LM behind the reduced model's token-model protocol: a KV cache per state,
states shared between covers (``fork``), batched forward passes over left-padded caches."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from vocablab.errors import VocabLabError
from vocablab.reduce.sampling import check_time

BATCH = 32  # forward passes of newly closed cover entries run in batches of this size


def fork(cache):
    """A copy of a KV cache that shares its tensors. transformers' dynamic cache layers replace
    their tensors when updated (``torch.cat``), never write into them, so extending the copy leaves
    the original as it was (tests/test_reduce_real.py checks this), without copying a deep copy's
    every tensor."""
    out = copy.copy(cache)
    out.layers = [copy.copy(layer) for layer in cache.layers]
    return out


@dataclass
class _State:
    cache: object
    logprobs: torch.Tensor
    length: int


class _TreeState(_State):
    """A state after one node of a token tree run in one forward pass (:meth:`HFTokenModel.tree`): its
    KV cache is the root's and the tree's rows of its ancestors, gathered only when first needed (most
    nodes of a prompt's tail are never extended)."""

    def __init__(self, build, logprobs: torch.Tensor, length: int) -> None:
        self._build, self._cache = build, None
        self.logprobs, self.length = logprobs, length

    @property
    def cache(self):
        if self._cache is None:
            self._cache, self._build = self._build(), None
        return self._cache


def left_padded_cache(states: list[_State], longest: int, config) -> DynamicCache:
    """The KV caches of ``states`` as one batch, each left-padded to ``longest`` positions."""
    merged = DynamicCache(config=config)
    for layer, merged_layer in enumerate(merged.layers):
        keys, values = [], []
        for state in states:
            cached = state.cache.layers[layer]
            pad = (0, 0, longest - cached.keys.shape[-2], 0)
            keys.append(torch.nn.functional.pad(cached.keys, pad))
            values.append(torch.nn.functional.pad(cached.values, pad))
        merged_layer.update(torch.cat(keys), torch.cat(values))
    return merged


class _PendingState(_State):
    """The state after a prompt that has not run yet: :meth:`HFTokenModel.tree` runs it in the same
    forward pass as the tree grown from it (a prompt healed costs one call to the model, not two);
    anything else that reads it runs it alone first."""

    def __init__(self, run, ids: list[int]) -> None:
        self._run, self._done, self.ids, self.length = run, None, ids, len(ids)

    @property
    def pending(self) -> bool:
        return self._done is None

    def fill(self, cache, logprobs: torch.Tensor) -> None:
        self._done = _State(cache, logprobs, self.length)

    def _state(self) -> _State:
        if self._done is None:
            self._done = self._run()
        return self._done

    @property
    def cache(self):
        return self._state().cache

    @property
    def logprobs(self) -> torch.Tensor:
        return self._state().logprobs


class ContextLimit(VocabLabError):
    """A text reached its model's context (``max_position_embeddings``)."""


class HFTokenModel:
    """A transformers causal LM behind the :class:`~vocablab.reduce.lvr.TokenModel` protocol. Each
    state keeps its own KV cache. One request reuses its parent's cache (copied when still needed);
    several run as one batched forward pass over their caches, left-padded to the longest."""

    def __init__(self, model) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        config = model.config.get_text_config(decoder=True)
        self.context = getattr(config, "max_position_embeddings", None) or 1 << 30
        # caches longer than a sliding window are cropped per row, so they are not merged
        self.merge_limit = getattr(config, "sliding_window", None) or self.context

    @torch.no_grad()
    def _forward(self, ids: list[int], cache) -> _State:
        past = 0 if cache is None else cache.get_seq_length()  # read before the forward pass extends the cache
        out = self.model(input_ids=torch.tensor([ids], device=self.device), past_key_values=cache, use_cache=True)
        logprobs = torch.log_softmax(out.logits[0, -1].float(), dim=-1).double().cpu()
        return _State(out.past_key_values, logprobs, past + len(ids))

    @torch.no_grad()
    def _forward_batch(self, requests: list[tuple[_State, int]]) -> list[_State]:
        lengths = [state.length for state, _ in requests]
        longest = max(lengths)
        merged = left_padded_cache([state for state, _ in requests], longest, self.model.config)
        mask = torch.zeros(len(requests), longest + 1, dtype=torch.long, device=self.device)
        for row, n in enumerate(lengths):
            mask[row, longest - n :] = 1
        out = self.model(
            input_ids=torch.tensor([[token] for _, token in requests], device=self.device),
            past_key_values=merged,
            attention_mask=mask,
            use_cache=True,
            position_ids=torch.tensor(lengths, device=self.device).unsqueeze(1),
        )
        logprobs = torch.log_softmax(out.logits[:, -1].float(), dim=-1).double().cpu()
        states = []
        for row, n in enumerate(lengths):
            cache = DynamicCache(config=self.model.config)
            for layer, merged_layer in zip(cache.layers, out.past_key_values.layers, strict=True):
                start = longest - n
                layer.update(merged_layer.keys[row : row + 1, :, start:], merged_layer.values[row : row + 1, :, start:])
            states.append(_State(cache, logprobs[row], n + 1))
        return states

    @torch.no_grad()
    def tree(self, root: _State, nodes: list[tuple[int, int]]) -> list[_State] | None:
        """The states after every node of a token tree grown from ``root``, by one forward pass: node i
        is (index of its parent among ``nodes``, -1 for ``root``; its token), parents listed before
        their children. The nodes run as one sequence after the root's cache; each attends to the
        cache and to its own ancestors only (a 4D mask) at its own depth's position, so each gets the
        log-probs one pass per path would give. A root not run yet (:meth:`start`) runs in the same
        pass, before the nodes. None past a sliding window (a cache cut per row)."""
        depth, ancestors = [], []
        for parent, _ in nodes:
            depth.append(1 if parent < 0 else depth[parent] + 1)
            ancestors.append(([] if parent < 0 else ancestors[parent]) + [len(ancestors)])
        if root.length + max(depth) + 1 >= min(self.merge_limit, self.context):
            return None
        head = root.ids if isinstance(root, _PendingState) and root.pending else []
        past, rows = root.length - len(head), len(head) + len(nodes)  # cached positions; positions run now
        dtype = next(self.model.parameters()).dtype
        mask = torch.full((1, 1, rows, past + rows), torch.finfo(dtype).min, dtype=dtype)
        mask[..., : past + len(head)] = 0  # the nodes see the whole prompt
        mask[0, 0, : len(head), past : past + len(head)].fill_(torch.finfo(dtype).min).triu_(1)  # the prompt: causal
        for row, path in enumerate(ancestors, len(head)):
            mask[0, 0, row, [root.length + i for i in path]] = 0
        positions = [*range(past, root.length), *(root.length + d - 1 for d in depth)]
        out = self.model(
            input_ids=torch.tensor([[*head, *(token for _, token in nodes)]], device=self.device),
            past_key_values=fork(root.cache) if not head else None,
            attention_mask=mask.to(self.device),
            position_ids=torch.tensor([positions], device=self.device),
            use_cache=True,
        )
        start = max(len(head) - 1, 0)  # the prompt's last row gives the root's log-probs
        logprobs = torch.log_softmax(out.logits[0, start:].float(), dim=-1).double().cpu()
        layers = out.past_key_values.layers
        if head:
            cache = DynamicCache(config=self.model.config)
            for layer, tree_layer in zip(cache.layers, layers, strict=True):
                layer.update(tree_layer.keys[:, :, : root.length], tree_layer.values[:, :, : root.length])
            root.fill(cache, logprobs[0])
            logprobs = logprobs[1:]

        def gather(path: list[int]):
            index = torch.tensor([*range(root.length), *(root.length + i for i in path)], device=self.device)
            cache = DynamicCache(config=self.model.config)
            for layer, tree_layer in zip(cache.layers, layers, strict=True):
                layer.update(tree_layer.keys.index_select(2, index), tree_layer.values.index_select(2, index))
            return cache

        return [
            _TreeState(lambda path=path: gather(path), logprobs[row], root.length + len(path))
            for row, path in enumerate(ancestors)
        ]

    def start(self, prompt_ids: list[int]) -> _State:
        """The state after the prompt, run when first read, or with the first tree grown from it (:meth:`tree`)."""
        if len(prompt_ids) >= self.context:
            raise VocabLabError(
                f"the prompt has {len(prompt_ids)} tokens; the model's context is {self.context}: shorten the prompt"
            )
        return _PendingState(lambda: self._forward(prompt_ids, None), prompt_ids)

    def logprobs(self, state: _State) -> torch.Tensor:
        return state.logprobs

    def extend(self, requests: list[tuple[_State, int]]) -> list[_State]:
        if any(state.length + 1 >= self.context for state, _ in requests):
            raise ContextLimit(f"the text reached the model's context of {self.context} tokens")
        out = []  # the time limit is checked before each batch (sampling.check_time): a step can hold hundreds
        if len(requests) > 1 and max(state.length for state, _ in requests) + 1 < self.merge_limit:
            for start in range(0, len(requests), BATCH):
                check_time()
                out += self._forward_batch(requests[start : start + BATCH])
            return out
        for state, token in requests:
            check_time()
            out.append(self._forward([token], fork(state.cache)))
        return out
