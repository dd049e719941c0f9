"""Estimators: question -> the model's draws (or probabilities) over its answers.

  free     N free-form samples with the prompt of the format (Appendix E.1: reasoning + <answer> tags)
  choices  N samples whose answer is constrained to the option texts (a token trie over the options)
  exact    each option's probability from one batched forward pass: the product over the trie walk of
           p(token) renormalized over the tokens the trie allows there -- exactly the N -> infinity limit of
           `choices` at the same temperature. `exact_score: sum|mean` instead renormalizes the summed (or
           length-normalized) sequence log-probabilities over the options.

Sample record (one per draw): {qid, k, seed, text, n_tokens, logprob_sum, logprob_mean, finish}
  seed = stable_seed(run seed, qid, k): the draw's only source of randomness (see Backend.sample)
Exact record (one per question): {qid, k: 0, seed: null, probs, texts, logprob_sums, logprob_means, n_tokens}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ud.data.prompts import Format
from ud.engines.base import Backend, SampleRequest, stable_seed
from ud.engines.trie import TokenTrie


def option_trie(backend: Backend, fmt: Format, q: dict, labels: list[str] | None = None) -> tuple[TokenTrie, list]:
    """Trie over the option completions (with every confidence label when `labels` is given).
    Returns the trie and, per path, (option index, label index or None)."""
    paths, keys = [], []
    for i in range(len(q["choices"])):
        for j, lab in enumerate(labels) if labels else [(None, None)]:
            paths.append(backend.encode_continuation(fmt.completion(q, i, label=lab)))
            keys.append((i, j))
    return TokenTrie(paths, backend.tok.eos_token_id), keys


@dataclass(frozen=True)
class DrawSetting:
    """What defines a run's draws: its params sections model, prompt and sample, the run seed, and the revision the
    model id resolved to."""
    model: Any  # ud.params.ModelParams
    prompt: Any  # ud.params.PromptParams
    sample: Any  # ud.params.SampleParams
    seed: int
    revision: str | None = None


def draw_unit(backend: Backend, fmt: Format, questions: list[dict], ks: list[int], estimator: str, seed: int,
              temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 256,
              exact_score: str = "trie") -> list[dict]:
    """Sample records for every question x sample index k in `ks` (one record per question for `exact`).
    Sampling estimators decode all rows together from one prefill per question (Backend.sample)."""
    prompts = [fmt.prompt(q, backend.tok) for q in questions]
    if estimator == "exact":
        return [exact_record(backend, fmt, q, pr, temperature, exact_score) for q, pr in zip(questions, prompts)]
    requests = [SampleRequest(pr, [stable_seed(seed, q["id"], k) for k in ks],
                              option_trie(backend, fmt, q)[0] if estimator == "choices" else None)
                for q, pr in zip(questions, prompts)]
    gens = backend.sample(requests, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                          stop_strings=None if estimator == "choices" else fmt.stop_strings())
    return [{"qid": q["id"], "k": k, "seed": r.seeds[j], "text": g.text, "n_tokens": g.n_tokens,
             "logprob_sum": g.logprob_sum, "logprob_mean": g.logprob_mean, "finish": g.finish}
            for q, r, gs in zip(questions, requests, gens) for j, (k, g) in enumerate(zip(ks, gs))]


def unit_drawer(setting: DrawSetting, backend: Backend | None = None):
    """compute(questions, ks) -> draw_unit records under a run's draw setting. Builds the backend where it is
    called -- inside a Ray actor when sampling is spread over workers -- unless given."""
    fmt = Format.from_params(setting.prompt)
    sample = setting.sample
    if backend is None:
        from ud.engines.registry import build_backend, sampling_scores

        backend, _ = build_backend(setting.model, chat=fmt.chat, scoring=sampling_scores(setting.model, sample.estimator))

    def compute(questions: list[dict], ks: list[int]) -> list[dict]:
        return draw_unit(backend, fmt, questions, ks, sample.estimator, setting.seed, sample.temperature,
                         sample.top_p, sample.max_new_tokens, sample.exact_score)
    return compute


def exact_record(backend: Backend, fmt: Format, q: dict, prompt: str, temperature: float = 1.0,
                 score: str = "trie") -> dict:
    """Each option's probability from the logits before each token of its trie path (one prefill of the prompt,
    the options scored as a batch from its KV cache). Only the rows that matter are computed: those before the
    option's own tokens and before any step where the trie still branches -- for one-token options (letters) the
    prefill's last logits are all there is to it."""
    trie, _ = option_trie(backend, fmt, q)
    steps = [trie.steps(i) for i in range(len(trie.sequences))]
    # row j (the logits before token j) is needed for j < body (the option's own tokens) and where j branches
    need = [max([len(seq) - 2] + [j for j, (_, allowed) in enumerate(st) if len(allowed) > 1])
            for seq, st in zip(trie.sequences, steps)]
    rows = backend.score_continuations([prompt], [[seq[: n + 1] for seq, n in zip(trie.sequences, need)]])[0]
    trie_lp, sums, means, lens = [], [], [], []
    for i, logits in enumerate(rows):
        seq = trie.sequences[i]
        body = len(seq) - 1  # without the terminator
        raw = (logits[:body].gather(1, torch.tensor(seq[:body])[:, None]).squeeze(1)
               - torch.logsumexp(logits[:body], dim=-1)).tolist() if body else []
        sums.append(sum(raw))
        means.append(sum(raw) / max(1, body))
        lens.append(body)
        lp = 0.0
        for j, (tok, allowed) in enumerate(steps[i]):
            if len(allowed) > 1:  # a forced step contributes log 1
                scaled = logits[j] / temperature
                lp += float(scaled[tok] - torch.logsumexp(scaled[allowed], dim=0))
        trie_lp.append(lp)
    base = {"trie": trie_lp, "sum": sums, "mean": means}[score]
    probs = torch.softmax(torch.tensor(base, dtype=torch.float64), dim=0).tolist()
    return {"qid": q["id"], "k": 0, "seed": None, "probs": probs,
            "texts": [fmt.completion(q, i) for i in range(len(q["choices"]))],
            "logprob_sums": sums, "logprob_means": means, "n_tokens": lens}
