"""HF transformers backend (CPU or GPU): batched sampling, trie-constrained decoding, and continuation scoring.

Log-probs are always those of the raw model (before temperature, top-p or the constraint): a recorder sits
first in the processor list and keeps one step of log-softmax at a time, so memory does not grow with the
vocabulary x generated length (output_logits=True would hold all of it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PrefixConstrainedLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from ud.trie import TokenTrie


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
class Generation:
    text: str
    n_tokens: int
    logprob_sum: float
    logprob_mean: float
    finish: str  # "stop" (EOS or stop string) | "length"
    token_ids: list[int]


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
            results[row // n].append(Generation(text, length, s, s / length if length else 0.0, finish, ids[:length]))
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
