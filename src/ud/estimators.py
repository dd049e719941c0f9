"""Estimators: question -> the model's draws (or probabilities) over its answers.

  free     N free-form samples with the prompt of the format (Appendix E.1: reasoning + <answer> tags)
  choices  N samples whose answer is constrained to the option texts (a token trie over the options)
  exact    each option's probability from one batched forward pass: the product over the trie walk of
           p(token) renormalized over the tokens the trie allows there -- exactly the N -> infinity limit of
           `choices` at the same temperature. `exact_score: sum|mean` instead renormalizes the summed (or
           length-normalized) sequence log-probabilities over the options.

Sample record (one per draw): {qid, k, seed, text, n_tokens, logprob_sum, logprob_mean, finish}
Exact record (one per question): {qid, k: 0, seed: null, probs, texts, logprob_sums, logprob_means, n_tokens}
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from ud.backends.hf import HFBackend, stable_seed
from ud.prompts import Format
from ud.trie import TokenTrie


def option_trie(backend: HFBackend, fmt: Format, q: dict, labels: list[str] | None = None) -> tuple[TokenTrie, list]:
    """Trie over the option completions (with every confidence label when `labels` is given).
    Returns the trie and, per path, (option index, label index or None)."""
    paths, keys = [], []
    for i in range(len(q["choices"])):
        for j, lab in enumerate(labels) if labels else [(None, None)]:
            paths.append(backend.encode_continuation(fmt.completion(q, i, label=lab)))
            keys.append((i, j))
    return TokenTrie(paths, backend.tok.eos_token_id), keys


def draw(backend: HFBackend, fmt: Format, questions: list[dict], estimator: str, n: int, seed: int,
         temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 256,
         exact_score: str = "trie", progress=None) -> Iterator[dict]:
    """Yield sample records question by question (one generate call per question, seeded per question so
    results do not depend on order or batching)."""
    for q in questions:
        qseed = stable_seed(seed, q["id"])
        prompt = fmt.prompt(q, backend.tok)
        t0 = time.perf_counter()
        if estimator == "exact":
            yield exact_record(backend, fmt, q, prompt, temperature, exact_score)
        else:
            tries = [option_trie(backend, fmt, q)[0]] if estimator == "choices" else None
            gens = backend.generate([prompt], n, do_sample=True, temperature=temperature, top_p=top_p,
                                    max_new_tokens=max_new_tokens, tries=tries, seed=qseed,
                                    stop_strings=None if tries else fmt.stop_strings())[0]
            for k, g in enumerate(gens):
                yield {"qid": q["id"], "k": k, "seed": qseed, "text": g.text, "n_tokens": g.n_tokens,
                       "logprob_sum": g.logprob_sum, "logprob_mean": g.logprob_mean, "finish": g.finish}
        if progress is not None:
            progress(q, time.perf_counter() - t0)


def exact_record(backend: HFBackend, fmt: Format, q: dict, prompt: str, temperature: float = 1.0,
                 score: str = "trie") -> dict:
    trie, _ = option_trie(backend, fmt, q)
    rows = backend.score_continuations(prompt, trie.sequences)
    trie_lp, sums, means, lens = [], [], [], []
    for i, steps in enumerate(rows):
        seq = trie.sequences[i]
        body = len(seq) - 1  # without the terminator
        raw = [float(steps[j][t]) for j, t in enumerate(seq[:body])]
        sums.append(sum(raw))
        means.append(sum(raw) / max(1, body))
        lens.append(body)
        lp = 0.0
        for j, (tok, allowed) in enumerate(trie.steps(i)):
            logits = steps[j] / temperature
            lp += float(logits[tok] - torch.logsumexp(logits[allowed], dim=0))
        trie_lp.append(lp)
    base = {"trie": trie_lp, "sum": sums, "mean": means}[score]
    probs = torch.softmax(torch.tensor(base, dtype=torch.float64), dim=0).tolist()
    return {"qid": q["id"], "k": 0, "seed": None, "probs": probs,
            "texts": [fmt.completion(q, i) for i in range(len(q["choices"]))],
            "logprob_sums": sums, "logprob_means": means, "n_tokens": lens}
