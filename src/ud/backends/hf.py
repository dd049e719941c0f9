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

import numpy as np
import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PrefixConstrainedLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from ud.backends.base import Generation, SampleRequest
from ud.backends.kv import batch_cache, prefill
from ud.errors import UDError
from ud.trie import TokenTrie

# Drop finished rows from the decode batch once this fraction of it is dead: compaction copies the KV cache, so it
# pays only when many rows would otherwise be computed for nothing.
COMPACT_FRACTION = 0.25


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


def uniform_stream(seed: int, steps: int) -> np.ndarray:
    """The uniforms a row draws its tokens with: a function of its seed only (numpy PCG64 is stable across
    platforms and versions)."""
    return np.random.Generator(np.random.PCG64(seed)).random(steps)


class HFBackend:
    """The transformers engine (CPU or GPU), implementing ud.backends.base.Backend."""

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
        self._prefix_memo: tuple | None = None
        self.stats = {"forward_tokens": 0, "generated_tokens": 0}  # for throughput / roofline accounting

    # ---- tokenization -------------------------------------------------------------------------------------
    def encode(self, prompts: list[str]) -> dict:
        # chat-rendered prompts already carry their special tokens
        return self.tok(prompts, return_tensors="pt", padding=True,
                        add_special_tokens=not self.chat).to(self.device)

    def encode_continuation(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, prompt: str) -> list[int]:
        return self.tok(prompt, add_special_tokens=not self.chat)["input_ids"]

    def _stop_window(self, stop_strings: list[str] | None) -> int:
        return 2 + max((len(self.encode_continuation(s)) for s in stop_strings or []), default=0)

    def _stops(self, ids: list[int], window: int, stop_strings: list[str] | None) -> bool:
        """Whether the tokens so far end a stop string (decoded over the last `window` tokens)."""
        if not stop_strings or not ids:
            return False
        tail = self.tok.decode(ids[-window:], skip_special_tokens=True)
        return any(s in tail for s in stop_strings)

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
        window = self._stop_window(stop_strings)
        results: list[list[Generation]] = [[] for _ in prompts]
        for row in range(gen.shape[0]):
            ids = gen[row].tolist()
            length, finish = self._generated_length(ids, window, stop_strings)
            text = self.tok.decode(ids[:length], skip_special_tokens=True)
            row_lp = lp[row, :length]
            s = float(row_lp.sum()) if length else 0.0
            results[row // n].append(Generation(text, length, s, s / length if length else 0.0, finish, ids[:length],
                                                row_lp.tolist()))
        return results

    def _generated_length(self, ids: list[int], window: int, stop_strings: list[str] | None) -> tuple[int, str]:
        """(tokens the row generated, finish) of a row of HF generate's output, which pads a row after it stops.
        A row stops on EOS (counted) or right after the token that completes a stop string; the padding after it
        is not generated even when pad == EOS (models without a pad token), so it is never counted."""
        eos, pad = self.tok.eos_token_id, self.tok.pad_token_id
        for j, t in enumerate(ids):
            if j and self._stops(ids[:j], window, stop_strings):
                return j, "stop"
            if t == eos:
                return j + 1, "stop"
            if t == pad:
                return j, "stop"
        return len(ids), "stop" if self._stops(ids, window, stop_strings) else "length"

    # ---- shared-prefix sampling ---------------------------------------------------------------------------
    def _prefill(self, prompts: list[str]):
        """KV cache and next-token logits of a batch of prompts, computed once. The last batch is kept, so
        drawing more blocks of samples (or scoring options) for the same prompts does not prefill again."""
        key = tuple(prompts)
        if self._prefill_memo is not None and self._prefill_memo[0] == key:
            return self._prefill_memo[1:]
        enc = self.encode(prompts)
        mask = enc["attention_mask"]
        kv, logits = prefill(self.model, enc["input_ids"], mask)
        self.stats["forward_tokens"] += int(mask.sum())
        self._prefill_memo = (key, kv, logits, mask)
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
        cache = batch_cache(kv, idx, steps)
        mask = prompt_mask[idx]
        logits = last_logits[idx]
        uniforms = torch.from_numpy(np.stack([uniform_stream(s, steps) for s in seeds])).to(self.device)
        eos = self.tok.eos_token_id
        warpers = []
        if temperature != 1.0:
            warpers.append(TemperatureLogitsWarper(temperature))
        if top_p < 1.0:
            warpers.append(TopPLogitsWarper(top_p))
        window = self._stop_window(stop_strings)
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
                if tok == eos or self._stops(tokens[row], window, stop_strings):
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
    def score_continuations(self, prompt: str, continuations: list[list[int]]) -> list[torch.Tensor]:
        """Per continuation, the (len, vocab) raw logits before each of its tokens. The prompt is prefilled once
        (and kept for the next call with the same prompt); the continuations run as one batch from its KV cache,
        so the prompt is never copied per option and nothing is computed over the prompt's positions."""
        kv, last_logits, mask = self._prefill([prompt])
        rests = [c[:-1] for c in continuations]  # a continuation's last token predicts nothing we need
        width = max((len(r) for r in rests), default=0)
        logits = None
        if width:
            ids = torch.full((len(rests), width), self.tok.pad_token_id, dtype=torch.long, device=self.device)
            cmask = torch.zeros((len(rests), width), dtype=torch.long, device=self.device)
            for i, r in enumerate(rests):  # right padding: a row's padding comes after its real tokens
                ids[i, : len(r)] = torch.tensor(r, device=self.device)
                cmask[i, : len(r)] = 1
            cache = batch_cache(kv, torch.zeros(len(rests), dtype=torch.long, device=self.device), width)
            pos = (int(mask.sum()) + torch.arange(width, device=self.device)).expand(len(rests), -1)
            logits = self.model(input_ids=ids, attention_mask=torch.cat([mask.expand(len(rests), -1), cmask], 1),
                                position_ids=pos, cache=cache, use_cache=True).logits.float()
            self.stats["forward_tokens"] += int(cmask.sum())
        out = []
        for i, r in enumerate(rests):  # row 0: after the prompt; row j: after the continuation's token j-1
            rows = [last_logits[:1]] + ([logits[i, : len(r)]] if r else [])
            out.append(torch.cat(rows)[: len(continuations[i])].cpu())
        return out

    def _prefix_kv(self, prefix: list[int]):
        if self._prefix_memo is None or self._prefix_memo[0] != prefix:
            kv, _ = prefill(self.model, torch.tensor([prefix], device=self.device))
            self.stats["forward_tokens"] += len(prefix)
            self._prefix_memo = (list(prefix), kv)
        return self._prefix_memo[1]

    @torch.no_grad()
    def next_token_logits(self, sequences: list[list[int]], prefix: list[int] | None = None) -> torch.Tensor:
        """(len(sequences), vocab) logits after the last token of each token sequence, one forward pass for the
        batch (right padding). When every sequence starts with `prefix`, the prefix's KV is computed once (kept for
        later calls) and shared by the rows; otherwise each row is a full pass."""
        use = bool(prefix) and all(len(s) > len(prefix) and s[: len(prefix)] == prefix for s in sequences)
        start = len(prefix) if use else 0
        rest = [s[start:] for s in sequences]
        width = max(len(r) for r in rest)
        ids = torch.full((len(rest), width), self.tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rest), width), dtype=torch.long)
        for i, r in enumerate(rest):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        kwargs = {}
        if use:
            cache = batch_cache(self._prefix_kv(prefix), torch.zeros(len(rest), dtype=torch.long,
                                                                      device=self.device), width)
            mask = torch.cat([torch.ones((len(rest), start), dtype=torch.long), mask], dim=1)
            kwargs = {"cache": cache, "use_cache": True,
                      "position_ids": (start + torch.arange(width)).expand(len(rest), -1).to(self.device)}
        logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kwargs).logits
        last = torch.tensor([len(r) - 1 for r in rest], device=logits.device)
        return logits[torch.arange(len(rest), device=logits.device), last].float()

    @torch.no_grad()
    def hidden_states(self, sequences: list[list[int]], layer: int) -> np.ndarray:
        """Layer `layer` of hidden_states (0 = embeddings, -1 = last) at each sequence's last token, one forward
        pass per sequence (no padding, so the state is exactly the unbatched one)."""
        feats = [self.model(input_ids=torch.tensor([s], device=self.device), output_hidden_states=True)
                 .hidden_states[layer][0, -1].float().cpu().numpy() for s in sequences]
        if not feats:
            raise UDError("hidden_states: no sequences")
        return np.stack(feats)
