"""HF transformers backend (CPU or GPU): shared-prefix sampling, trie-constrained decoding, continuation scoring.

Two samplers:
  sample()    the pipeline's: each prompt is prefilled once, its KV cache is copied to every continuation row,
              and all rows of all prompts decode together in one loop (left padding, per-row stop on EOS / stop
              strings / trie end, finished rows dropped from the batch, the loop ends when the last row stops).
              Each row draws its tokens by inverse CDF from its own uniform stream, seeded by the row's seed, so a
              sample depends on its seed only -- not on batch composition, order, or how many others are drawn.
  generate()  HF `generate(num_return_sequences=n)`: the prompt is copied n times and each copy prefilled. Kept as
              the reference the shared-prefix sampler is checked and benchmarked against, and for greedy decoding.

Log-probs are always those of the raw model (before temperature, top-p or the constraint): a recorder sits
first in the processor list and keeps one step of log-softmax at a time, so memory does not grow with the
vocabulary x generated length (output_logits=True would hold all of it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import (
    DynamicCache,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PrefixConstrainedLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)
from transformers.cache_utils import DynamicLayer

from ud.trie import TokenTrie

# Drop finished rows from the decode batch once this fraction of it is dead: compaction copies the KV cache, so it
# pays only when many rows would otherwise be computed for nothing.
COMPACT_FRACTION = 0.25


def stable_seed(*parts) -> int:
    """A seed from strings/ints that is the same on every machine and Python run (hash() is salted)."""
    h = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:4], "little")


class RawLogprobRecorder(LogitsProcessor):
    """Records log p(chosen token) under the unmodified model distribution, one step behind."""

    def __init__(self):
        self.prev: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids, scores):
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, last_tokens: torch.Tensor) -> torch.Tensor:
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, last_tokens[:, None]).squeeze(1))
            self.prev = None
        return torch.stack(self.steps, dim=1) if self.steps else torch.zeros(len(last_tokens), 0)


@dataclass
class SampleRequest:
    """One prompt and the seeds of the continuations to draw for it (one continuation per seed)."""
    prompt: str
    seeds: list[int]
    trie: TokenTrie | None = None  # restrict continuations to the trie's paths (the `choices` estimator)


class _GrowingLayer(DynamicLayer):
    """A KV layer preallocated for the whole generation: appending a step writes in place instead of concatenating
    (DynamicLayer copies the whole cache every step), and rows can be gathered (copy the prompt to many rows, or
    drop finished rows)."""

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


def uniform_stream(seed: int, steps: int) -> np.ndarray:
    """The uniforms a row draws its tokens with: a function of its seed only (numpy PCG64 is stable across
    platforms and versions)."""
    return np.random.Generator(np.random.PCG64(seed)).random(steps)


@dataclass
class Generation:
    text: str
    n_tokens: int
    logprob_sum: float
    logprob_mean: float
    finish: str  # "stop" (EOS or stop string) | "length"
    token_ids: list[int]
    token_logprobs: list[float] = field(default_factory=list)  # raw-model log p of each generated token


class HFBackend:
    name = "hf"

    def __init__(self, model, tokenizer, chat: bool = False):
        self.model = model
        self.tok = tokenizer
        self.chat = chat
        self.tok.padding_side = "left"
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        self.device = next(model.parameters()).device
        self._prefill_memo: tuple | None = None
        self.stats = {"forward_tokens": 0, "generated_tokens": 0}  # for throughput / roofline accounting

    # ---- tokenization -------------------------------------------------------------------------------------
    def encode(self, prompts: list[str]) -> dict:
        # chat-rendered prompts already carry their special tokens
        return self.tok(prompts, return_tensors="pt", padding=True,
                        add_special_tokens=not self.chat).to(self.device)

    def encode_continuation(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    # ---- generation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompts: list[str], n: int = 1, *, do_sample: bool = True, temperature: float = 1.0,
                 top_p: float = 1.0, max_new_tokens: int = 64, stop_strings: list[str] | None = None,
                 tries: list[TokenTrie] | None = None, seed: int | None = None) -> list[list[Generation]]:
        """n continuations per prompt. `tries` (one per prompt) restrict generation to their paths."""
        enc = self.encode(prompts)
        plen = enc["input_ids"].shape[1]
        recorder = RawLogprobRecorder()
        procs = LogitsProcessorList([recorder])
        if tries is not None:
            def allowed(row: int, ids: torch.Tensor) -> list[int]:
                return tries[row // n].allowed(ids[plen:].tolist())

            procs.append(PrefixConstrainedLogitsProcessor(allowed, num_beams=1))
        if do_sample and temperature != 1.0:
            procs.append(TemperatureLogitsWarper(temperature))
        if do_sample and top_p < 1.0:
            procs.append(TopPLogitsWarper(top_p))
        eos = self.tok.eos_token_id
        cfg = GenerationConfig(
            do_sample=do_sample, num_return_sequences=n, **({"temperature": 1.0, "top_p": 1.0, "top_k": 0}
                                                            if do_sample else {}),
            max_new_tokens=max_new_tokens, pad_token_id=self.tok.pad_token_id, eos_token_id=eos,
            stop_strings=stop_strings or None,
        )
        if seed is not None:
            torch.manual_seed(seed)
        out = self.model.generate(**enc, generation_config=cfg, logits_processor=procs,
                                  tokenizer=self.tok if stop_strings else None)
        gen = out[:, plen:]
        lp = recorder.finish(gen[:, -1]) if gen.shape[1] else torch.zeros(len(gen), 0)
        results: list[list[Generation]] = [[] for _ in prompts]
        for row in range(gen.shape[0]):
            ids = gen[row].tolist()
            length, finish = len(ids), "length"
            for j, t in enumerate(ids):
                if t == eos:  # counted, not decoded
                    length, finish = j + 1, "stop"
                    break
                if t == self.tok.pad_token_id:  # a row finished by a stop string is padded after it
                    length, finish = j, "stop"
                    break
            text = self.tok.decode(ids[:length], skip_special_tokens=True)
            if stop_strings and any(s in text for s in stop_strings):
                finish = "stop"
            row_lp = lp[row, :length]
            s = float(row_lp.sum()) if length else 0.0
            results[row // n].append(Generation(text, length, s, s / length if length else 0.0, finish, ids[:length],
                                                row_lp.tolist()))
        return results

    # ---- shared-prefix sampling ---------------------------------------------------------------------------
    def _prefill(self, prompts: list[str]):
        """KV cache and next-token logits of a batch of prompts, computed once. The last batch is kept, so
        drawing more blocks of samples for the same prompts does not prefill again."""
        key = tuple(prompts)
        if self._prefill_memo is not None and self._prefill_memo[0] == key:
            return self._prefill_memo[1:]
        enc = self.encode(prompts)
        mask = enc["attention_mask"]
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        out = self.model(input_ids=enc["input_ids"], attention_mask=mask, position_ids=pos, cache=cache,
                         use_cache=True, logits_to_keep=1)
        self.stats["forward_tokens"] += int(mask.sum())
        kv = [(layer.keys, layer.values) for layer in cache.layers]  # filled in place by the forward pass
        self._prefill_memo = (key, kv, out.logits[:, -1].float(), mask)
        return self._prefill_memo[1:]

    @torch.no_grad()
    def sample(self, requests: list[SampleRequest], *, temperature: float = 1.0, top_p: float = 1.0,
               max_new_tokens: int = 64, stop_strings: list[str] | None = None) -> list[list[Generation]]:
        """One continuation per seed of each request, all decoded in one batch from a prefill done once per
        prompt. Returns, per request, its generations in the order of its seeds."""
        if not requests:
            return []
        kv, last_logits, prompt_mask = self._prefill([r.prompt for r in requests])
        row_req = [i for i, r in enumerate(requests) for _ in r.seeds]
        seeds = [s for r in requests for s in r.seeds]
        steps = max_new_tokens
        if all(r.trie is not None for r in requests):
            steps = min(steps, max(len(seq) for r in requests for seq in r.trie.sequences))
        idx = torch.tensor(row_req, device=self.device)
        cache = DynamicCache()
        cache.layers = [_GrowingLayer(k[idx], v[idx], steps) for k, v in kv]
        mask = prompt_mask[idx]
        logits = last_logits[idx]
        uniforms = torch.from_numpy(np.stack([uniform_stream(s, steps) for s in seeds])).to(self.device)
        eos = self.tok.eos_token_id
        warpers = []
        if temperature != 1.0:
            warpers.append(TemperatureLogitsWarper(temperature))
        if top_p < 1.0:
            warpers.append(TopPLogitsWarper(top_p))
        stop_window = 2 + max((len(self.encode_continuation(s)) for s in stop_strings or []), default=0)
        tokens: list[list[int]] = [[] for _ in seeds]
        logprobs: list[list[float]] = [[] for _ in seeds]
        finish = ["length"] * len(seeds)
        alive = list(range(len(seeds)))  # batch position -> row
        live = [True] * len(seeds)
        for t in range(steps):
            raw = torch.log_softmax(logits, dim=-1)
            scores = logits.clone()
            if any(r.trie is not None for r in requests):
                allowed = torch.zeros_like(scores, dtype=torch.bool)
                for b, row in enumerate(alive):
                    trie = requests[row_req[row]].trie
                    if trie is not None:
                        allowed[b, trie.allowed(tokens[row])] = True
                    else:
                        allowed[b] = True
                scores = scores.masked_fill(~allowed, float("-inf"))
            for w in warpers:
                scores = w(None, scores)
            # sampled on the device: only the chosen ids and their log-probs cross to the host
            cdf = torch.softmax(scores, dim=-1).double().cumsum(-1)
            u = uniforms[alive, t].unsqueeze(1) * cdf[:, -1:]
            # first token whose cdf exceeds u: zero-probability tokens (flat cdf) can never be chosen
            chosen = torch.searchsorted(cdf, u, right=True).squeeze(1).clamp(max=cdf.shape[1] - 1)
            chosen_ids = chosen.tolist()
            chosen_lps = raw.gather(1, chosen[:, None]).squeeze(1).tolist()
            for b, row in enumerate(alive):
                if not live[row]:
                    continue
                tok = chosen_ids[b]
                tokens[row].append(tok)
                logprobs[row].append(chosen_lps[b])
                self.stats["generated_tokens"] += 1
                if tok == eos:
                    live[row], finish[row] = False, "stop"
                elif stop_strings:
                    tail = self.tok.decode(tokens[row][-stop_window:], skip_special_tokens=True)
                    if any(s in tail for s in stop_strings):
                        live[row], finish[row] = False, "stop"
            if not any(live[row] for row in alive) or t == steps - 1:
                break
            dead = sum(1 for row in alive if not live[row])
            step_ids = chosen
            if dead and dead >= COMPACT_FRACTION * len(alive):
                keep = [b for b, row in enumerate(alive) if live[row]]
                keep_t = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(keep_t)
                mask, step_ids = mask[keep_t], step_ids[keep_t]
                alive = [alive[b] for b in keep]
            pos = mask.sum(-1, keepdim=True)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            out = self.model(input_ids=step_ids[:, None], attention_mask=mask, position_ids=pos,
                             cache=cache, use_cache=True, logits_to_keep=1)
            self.stats["forward_tokens"] += len(alive)
            logits = out.logits[:, -1].float()
        results: list[list[Generation]] = [[] for _ in requests]
        for row, (ids, lps) in enumerate(zip(tokens, logprobs)):
            text = self.tok.decode([t for t in ids if t != eos], skip_special_tokens=True)
            total = float(sum(lps))
            results[row_req[row]].append(Generation(text, len(ids), total, total / len(ids) if ids else 0.0,
                                                    finish[row], ids, lps))
        return results

    # ---- scoring ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def score_continuations(self, prompt: str, continuations: list[list[int]]) -> list[list[torch.Tensor]]:
        """For each continuation (token ids), the log-softmax rows predicting each of its tokens.
        Returns per continuation a list of (vocab,) log-prob tensors, one per token."""
        p_ids = self.encode([prompt])["input_ids"][0].tolist()
        seqs = [p_ids + c for c in continuations]
        width = max(len(s) for s in seqs)
        pad = self.tok.pad_token_id
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):  # right padding: positions line up with the shared prompt
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
        lsm = torch.log_softmax(logits, dim=-1).cpu()
        out = []
        for i, c in enumerate(continuations):
            start = len(p_ids) - 1  # the row at position t predicts token t+1
            out.append([lsm[i, start + j] for j in range(len(c))])
        return out
