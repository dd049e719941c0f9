"""The interface every engine implements (hf, vllm, openai), the request kinds that cross it, and the base they share.

A backend holds one model and its tokenizer. Callers build one with `ud.engines.registry.build_backend` and use only
what `Backend` lists. Five request kinds:

    sample(SampleRequest ...)        seeded draws: one continuation per seed, a draw depends on its seed only
    greedy(GreedyRequest ...)        the most likely continuation (optionally restricted to a trie)
    continuation_logprobs / score_continuations   log-probs / logits of given continuations of a prompt
    next_token_logits(sequences)     the next-token distribution after token sequences (a shared prefix once)
    hidden_states(sequences, layer)  a layer's hidden state at each sequence's last token

An engine declares what it can do in `capabilities` (CAPABILITIES names them); a caller checks `supports(...)` or
`require(..., who=...)` before relying on one, and an engine asked for what it lacks raises a UDError naming it.
`Tokens` is the tokenization every engine shares (and the Ray drivers use without an engine).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ud.engines.trie import TokenTrie
from ud.errors import UDError

CAPABILITIES = {
    "sample": "seeded sampling (sample)",
    "greedy": "greedy decoding (greedy)",
    "trie": "decoding restricted to a trie of token paths (the `choices` estimator, evaluate.constrain)",
    "seeded": "a repeated seeded request repeats its draw (the resumable sample cache needs it)",
    "logprobs": "the generated tokens' log-probs",
    "continuation_logprobs": "log-probs of given continuations (the distilled model's label readout)",
    "logits": "full next-token logits (score_continuations, next_token_logits: the exact estimator, P(True))",
    "hidden_states": "hidden states (the P(IK) probe)",
}


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
    # Only for a greedy walk of the trie (sample(greedy=True), one seed), where an engine offers it (hf):
    # readout: at the first choice point where readout(tokens so far) holds, the constrained decoder's probability
    #   of every trie path below that point (Generation.readout), e.g. every confidence label after the answer;
    # forced_logprobs=False: tokens the trie forces get no log-prob (NaN), so no logits are computed for them.
    readout: Callable[[list[int]], bool] | None = None
    forced_logprobs: bool = True


@dataclass
class Readout:
    """The constrained decoder's distribution below one choice point of a trie walk: for every trie path below it,
    the product over its choice points of the chosen token's probability renormalized over the tokens the trie
    allowed there (tokens the trie forces have probability 1 under the constraint)."""
    position: int  # in the generation's token_ids: where the paths part
    paths: dict[tuple[int, ...], float]  # path from `position` to its end token -> log-probability
    passes: int  # forward passes the readout needed beyond the decoding's own (paths the decoding did not take)


@dataclass
class GreedyRequest:
    """One prompt to answer greedily."""
    prompt: str
    trie: TokenTrie | None = None  # restrict the answer to the trie's paths (the options)


@dataclass
class Generation:
    text: str
    n_tokens: int  # generated tokens, a terminating EOS included (padding never)
    logprob_sum: float
    logprob_mean: float
    finish: str  # "stop" (EOS or stop string) | "length"
    token_ids: list[int]
    token_logprobs: list[float] = field(default_factory=list)  # raw-model log p of each generated token
    hidden: Any = None  # greedy(hidden_layer=...): that layer's hidden state at the last token before EOS
    # a greedy walk of a trie: at each point where the trie allowed several tokens, (position in token_ids,
    # {allowed token: raw-model log p}) -- the choice the decoding made, and what it chose among
    branches: list[tuple[int, dict[int, float]]] = field(default_factory=list)
    readout: Readout | None = None  # SampleRequest.readout's distribution (None: not asked, or not offered)


@runtime_checkable
class Backend(Protocol):
    name: str
    tok: Any  # the tokenizer (transformers): prompts are rendered with its chat template
    chat: bool  # prompts are chat-rendered (they carry their special tokens)
    device: Any

    @property
    def capabilities(self) -> frozenset[str]:
        """What this engine can do (keys of CAPABILITIES)."""

    def supports(self, capability: str) -> bool: ...

    def require(self, capability: str, *, who: str) -> None:
        """Raise a UDError naming `who` when this engine lacks `capability`."""

    def encode_continuation(self, text: str) -> list[int]:
        """Token ids of `text` as it continues a prompt (no special tokens)."""

    def prompt_ids(self, prompt: str) -> list[int]:
        """Token ids of a rendered prompt, exactly as the backend feeds it to the model."""

    def sample(self, requests: list[SampleRequest], *, temperature: float = 1.0, top_p: float = 1.0,
               max_new_tokens: int = 64, stop_strings: list[str] | None = None,
               greedy: bool = False) -> list[list[Generation]]:
        """One continuation per seed of each request; a draw depends on its seed only (greedy: the most likely
        allowed token at every step, through the same decoder)."""

    def greedy(self, requests: list[GreedyRequest], *, max_new_tokens: int = 64,
               stop_strings: list[str] | None = None, stop_after: list[str] | None = None,
               hidden_layer: int | None = None) -> list[Generation]:
        """The greedy continuation of each request. A row stops on any of `stop_strings`, or once its text holds
        every one of `stop_after`; with `hidden_layer`, each generation carries that layer's hidden state at its
        last token before EOS."""

    def score_continuations(self, prompts: list[str], continuations: list[list[list[int]]]) -> list[list[Any]]:
        """Per prompt, per continuation of it, a (len, vocab) float tensor: the raw logits before each token."""

    def continuation_logprobs(self, prompts: list[str],
                              continuations: list[list[list[int]]]) -> list[list[list[float]]]:
        """Per prompt, per continuation of it, the raw log-probability of each of its tokens."""

    def next_token_logits(self, sequences: list[list[int]], prefix: list[int] | None = None) -> Any:
        """(len(sequences), vocab) logits after each token sequence; a prefix they all share is computed once."""

    def hidden_states(self, sequences: list[list[int]], layer: int) -> Any:
        """(len(sequences), hidden) float array: layer `layer` of hidden_states at each sequence's last token."""


class Tokens:
    """Tokenization as every engine does it, public so callers never reach into the tokenizer's options. Also what
    a Ray driver uses to build prompts and tries without loading an engine."""

    def __init__(self, tok, chat: bool | None):
        """chat: prompts are chat-rendered; None: where the tokenizer has a chat template."""
        self.tok = tok
        self.chat = tok.chat_template is not None if chat is None else chat

    @property
    def eos_token_id(self) -> int | None:
        return self.tok.eos_token_id

    def encode_continuation(self, text: str) -> list[int]:
        """Token ids of `text` as it continues a prompt (no special tokens)."""
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, prompt: str) -> list[int]:
        """Token ids of a prompt rendered by ud.data.prompts: a chat-rendered prompt already carries its special
        tokens, so none are added again."""
        return self.tok(prompt, add_special_tokens=not self.chat)["input_ids"]

    def text_ids(self, text: str) -> list[int]:
        """Token ids of a bare text prompt (no chat template), with the tokenizer's own special tokens (a BOS)."""
        return self.tok(text)["input_ids"]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    def render_user(self, text: str) -> str:
        """`text` as a user turn the model answers (its chat template), or the bare text for a base model."""
        if not self.chat:
            return text
        return self.tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                            add_generation_prompt=True)


class Engine(Tokens):
    """What every engine shares: tokenization, declared capabilities, and a clear error for a request kind it lacks.
    A subclass sets `name` and `capabilities` and implements the request kinds it declares."""

    name = "engine"
    capabilities: frozenset[str] = frozenset()

    def supports(self, capability: str) -> bool:
        if capability not in CAPABILITIES:
            raise KeyError(f"unknown capability {capability!r}: one of {sorted(CAPABILITIES)}")
        return capability in self.capabilities

    def require(self, capability: str, *, who: str) -> None:
        if not self.supports(capability):
            raise UDError(f"{who} needs {CAPABILITIES[capability]}, which the {self.name} backend does not give: "
                          "use model.backend: hf for it")

    def numerics(self) -> dict:
        """The engine settings that change the numbers a draw computes (threads on a CPU, the GPU, vLLM's
        scheduling): a resumed draw must compute its missing units the way the cached ones were computed."""
        return {"engine": self.name}

    def score_continuations(self, prompts, continuations):
        self.require("logits", who="score_continuations")

    def continuation_logprobs(self, prompts, continuations):
        self.require("continuation_logprobs", who="continuation_logprobs")

    def next_token_logits(self, sequences, prefix=None):
        self.require("logits", who="next_token_logits")

    def hidden_states(self, sequences, layer):
        self.require("hidden_states", who="hidden_states")


def torch_numerics(engine: str, device) -> dict:
    """numerics() of an engine that runs torch in this process: on a CPU the thread count decides the reduction
    order of every matrix product (UD_THREADS, sample.threads_per_worker), on a GPU the device model does."""
    import torch

    if str(device).startswith("cuda"):
        return {"engine": engine, "device": torch.cuda.get_device_name(torch.device(device))}
    return {"engine": engine, "device": "cpu", "threads": torch.get_num_threads()}


def cut_after_all(generations: list[Generation], strings: list[str]) -> None:
    """For engines that stop on any one stop string only: cut each text where the last of `strings` closes, once all
    of them are there (Backend.greedy's `stop_after`)."""
    for g in generations:
        if all(s in g.text for s in strings):
            g.text = g.text[: max(g.text.index(s) + len(s) for s in strings)]
            g.finish = "stop"
