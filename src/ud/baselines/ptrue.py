"""P(True) (Kadavath et al. 2022): the base model judges whether its proposed (greedy) answer is true; the score
is p("A") / (p("A") + p("B")) for the options "(A) True" / "(B) False" at the next token, few-shot with examples
from the calibration split (their greedy answers and whether they were right). No brainstormed samples. The
few-shot prefix is computed once and its KV cache shared by every question."""

from __future__ import annotations

import time

import torch
from tqdm import tqdm

from transformers import DynamicCache

from ud.backends.hf import HFBackend, _GrowingLayer

TEMPLATE = ("Question: {question}\nProposed Answer: {answer}\nIs the proposed answer:\n (A) True\n (B) False\n"
            "The proposed answer is:")


def block(q: dict, answer: str, verdict: str | None = None) -> str:
    text = TEMPLATE.format(question=q["question"].strip(), answer=answer.strip())
    return text + (f" ({verdict})\n\n" if verdict else "")


def shots_text(examples: list[tuple[dict, str, bool]]) -> str:
    return "".join(block(q, a, "A" if ok else "B") for q, a, ok in examples)


def option_token_ids(tok) -> tuple[int, int]:
    """Token ids of "A" and "B" as they follow "(" in " (A)": the next token after the prompt's " (" ."""
    a = tok(" (A", add_special_tokens=False)["input_ids"][-1]
    b = tok(" (B", add_special_tokens=False)["input_ids"][-1]
    if a == b:
        raise ValueError("tokenizer maps A and B to the same token")
    return a, b


class SharedPrefix:
    """The few-shot prefix run once; its KV cache is copied to every row of a batch, so each prompt computes only
    its own tokens. Used only where the prompt's tokens start with the prefix's tokens (else a full pass)."""

    def __init__(self, backend: HFBackend, prefix: str):
        self.backend = backend
        # without its last token: text after the prefix can retokenize the boundary ("\n\n" + "Question" ->
        # "\n", "\n", "Question" for GPT-2-style BPE)
        self.ids = backend.tok(prefix)["input_ids"][:-1] if prefix else []
        self.kv = None
        if self.ids:
            cache = DynamicCache()
            backend.model(input_ids=torch.tensor([self.ids], device=backend.device), cache=cache, use_cache=True,
                          logits_to_keep=1)
            self.kv = [(layer.keys, layer.values) for layer in cache.layers]

    def covers(self, ids: list[int]) -> bool:
        return bool(self.ids) and len(ids) > len(self.ids) and ids[: len(self.ids)] == self.ids


@torch.no_grad()
def next_token_logits(backend: HFBackend, seqs: list[list[int]], prefix: SharedPrefix | None = None) -> torch.Tensor:
    """Logits after the last token of each sequence, one forward pass for the batch (right padding)."""
    use = prefix is not None and all(prefix.covers(s) for s in seqs)
    start = len(prefix.ids) if use else 0
    rest = [s[start:] for s in seqs]
    width = max(len(r) for r in rest)
    ids = torch.full((len(rest), width), backend.tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rest), width), dtype=torch.long)
    for i, r in enumerate(rest):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    kwargs = {}
    if use:
        cache = DynamicCache()
        cache.layers = [_GrowingLayer(k.expand(len(rest), -1, -1, -1), v.expand(len(rest), -1, -1, -1), width)
                        for k, v in prefix.kv]
        mask = torch.cat([torch.ones((len(rest), start), dtype=torch.long), mask], dim=1)
        kwargs = {"cache": cache, "use_cache": True,
                  "position_ids": (start + torch.arange(width)).expand(len(rest), -1).to(backend.device)}
    logits = backend.model(input_ids=ids.to(backend.device), attention_mask=mask.to(backend.device), **kwargs).logits
    last = torch.tensor([len(r) - 1 for r in rest], device=logits.device)
    return logits[torch.arange(len(rest), device=logits.device), last].float()


@torch.no_grad()
def p_true(backend: HFBackend, prompts: list[str], prefix: SharedPrefix | None = None) -> list[float]:
    """p(A) / (p(A) + p(B)) after each prompt + " (" (one forward pass per batch of prompts)."""
    a, b = option_token_ids(backend.tok)
    logits = next_token_logits(backend, [backend.tok(p + " (")["input_ids"] for p in prompts], prefix)
    return torch.softmax(logits[:, [a, b]], dim=-1)[:, 0].tolist()


def run(backend: HFBackend, questions: list[dict], records: list[dict],
        examples: list[tuple[dict, str, bool]], desc: str = "p(true)", batch_size: int = 8) -> tuple[list[float], float]:
    """Scores for each (question, greedy record); returns (scores, seconds per answer)."""
    shots = shots_text(examples)
    prompts = [shots + block(q, r["text"]) for q, r in zip(questions, records)]
    t0 = time.perf_counter()
    prefix = SharedPrefix(backend, shots)
    scores = []
    for i in tqdm(range(0, len(prompts), batch_size), desc=desc, unit="batch"):
        scores.extend(p_true(backend, prompts[i:i + batch_size], prefix))
    return scores, (time.perf_counter() - t0) / max(1, len(prompts))
