"""The backend interface every engine implements (hf, vllm), and the records that cross it.

A backend holds one model and its tokenizer. Callers build one with `ud.engines.registry.build_backend` and use only
these methods and attributes; what an engine cannot do (vLLM has no hidden states) raises a UDError naming it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ud.engines.trie import TokenTrie
from ud.errors import UDError


def length_batches(texts: list[str], batch_size: int) -> list[list[int]]:
    """Indices of `texts` in batches of similar length (longest first): a padded batch computes every row to its
    longest prompt, so mixing a 60-token and a 250-token prompt wastes most of the short one's compute. Callers put
    the results back in the original order; the batches' composition does not change what a row computes, up to
    float rounding."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def stable_seed(*parts) -> int:
    """A seed from strings/ints that is the same on every machine and Python run (hash() is salted)."""
    h = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:4], "little")


@dataclass
class SampleRequest:
    """One prompt and the seeds of the continuations to draw for it (one continuation per seed)."""
    prompt: str
    seeds: list[int]
    trie: TokenTrie | None = None  # restrict continuations to the trie's paths (the `choices` estimator)


@dataclass
class Generation:
    text: str
    n_tokens: int  # generated tokens, a terminating EOS included (padding never)
    logprob_sum: float
    logprob_mean: float
    finish: str  # "stop" (EOS or stop string) | "length"
    token_ids: list[int]
    token_logprobs: list[float] = field(default_factory=list)  # raw-model log p of each generated token
    hidden: Any = None  # generate(hidden_layer=...): that layer's hidden state at the last token before EOS


@runtime_checkable
class Backend(Protocol):
    name: str
    tok: Any  # the tokenizer (transformers)
    chat: bool  # prompts are chat-rendered (they carry their special tokens)
    device: Any

    def encode_continuation(self, text: str) -> list[int]:
        """Token ids of `text` as it continues a prompt (no special tokens)."""

    def prompt_ids(self, prompt: str) -> list[int]:
        """Token ids of a rendered prompt, exactly as the backend feeds it to the model."""

    def sample(self, requests: list[SampleRequest], *, temperature: float = 1.0, top_p: float = 1.0,
               max_new_tokens: int = 64, stop_strings: list[str] | None = None,
               greedy: bool = False) -> list[list[Generation]]:
        """One continuation per seed of each request; a draw depends on its seed only (greedy: the most likely
        allowed token at every step)."""

    def generate(self, prompts: list[str], n: int = 1, *, do_sample: bool = True, temperature: float = 1.0,
                 top_p: float = 1.0, max_new_tokens: int = 64, stop_strings: list[str] | None = None,
                 tries: list[TokenTrie] | None = None, seed: int | None = None,
                 stop_after: list[str] | None = None, hidden_layer: int | None = None) -> list[list[Generation]]:
        """n continuations per prompt (greedy with do_sample=False); `tries` restrict each prompt's output; a row
        stops on any of `stop_strings`, or once its text holds every one of `stop_after`; `hidden_layer`: each
        generation carries that layer's hidden state at its last token before EOS."""

    def score_continuations(self, prompts: list[str], continuations: list[list[list[int]]]) -> list[list[Any]]:
        """Per prompt, per continuation of it, a (len, vocab) float tensor: the raw logits before each token."""

    def continuation_logprobs(self, prompts: list[str], continuations: list[list[list[int]]]) -> list[list[list[float]]]:
        """Per prompt, per continuation of it, the raw log-probability of each of its tokens."""

    def next_token_logits(self, sequences: list[list[int]], prefix: list[int] | None = None) -> Any:
        """(len(sequences), vocab) logits after each token sequence; a prefix they all share is computed once."""

    def hidden_states(self, sequences: list[list[int]], layer: int) -> Any:
        """(len(sequences), hidden) float array: layer `layer` of hidden_states at each sequence's last token."""


class NoScoring:
    """For engines without access to the model's internals (vllm, openai): the scoring methods say so. The stages
    that score build an hf backend (build_backend(..., scoring=True))."""

    name = "this"

    def _no_scoring(self, what: str):
        raise UDError(f"the {self.name} backend has no {what}: stages that score build an hf backend "
                      "(build_backend(..., scoring=True))")

    def score_continuations(self, prompts, continuations):
        self._no_scoring("logits (score_continuations)")

    def next_token_logits(self, sequences, prefix=None):
        self._no_scoring("logits (next_token_logits)")

    def hidden_states(self, sequences, layer):
        self._no_scoring("hidden states")


def cut_after_all(generations: list[list[Generation]], strings: list[str]) -> None:
    """For engines that stop on any one stop string only: cut each text where the last of `strings` closes, once all
    of them are there (Backend.generate's `stop_after`)."""
    for gens in generations:
        for g in gens:
            if all(s in g.text for s in strings):
                g.text = g.text[: max(g.text.index(s) + len(s) for s in strings)]
                g.finish = "stop"
