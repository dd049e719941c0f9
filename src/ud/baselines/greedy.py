"""The base model's greedy answer to each question, and what the supervised baselines read from it: the
per-token log-probs of the answer (lexical) and the hidden state at the answer's last token (P(IK)).

Record (data/greedy/<part>.jsonl): {set, qid, text, answer_key, correct, token_ids, token_logprobs, n_tokens}
(seconds: timings/greedy_<part>.json, see ud.timings)
Features (data/greedy/<split>.features.safetensors): "hidden" (records x hidden size, float32), record order.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from ud.data.prompts import Format
from ud.engines.base import Backend, GreedyRequest, length_batches
from ud.method.normalize import DEFAULT_EQUIVALENCE, grade
from ud.sampling.estimators import option_trie


def answer_questions(backend: Backend, fmt: Format, questions: list[dict], *, constrain: bool,
                     max_new_tokens: int, batch_size: int, desc: str = "greedy",
                     equivalence=DEFAULT_EQUIVALENCE, layer: int | None = None) -> tuple[list[dict], np.ndarray | None]:
    """One greedy answer per question with the sampling prompt (trie-constrained to the options when asked), and,
    with `layer`, the P(IK) features (that layer's hidden state at the answer's last token before EOS) taken from
    the same decoding passes (records x hidden size: they cost no extra pass)."""
    constrain = constrain and not fmt.reasoning and all(q.get("choices") for q in questions)
    out: list[dict | None] = [None] * len(questions)
    feats: list = [None] * len(questions)
    all_prompts = [fmt.prompt(q, backend.tok) for q in questions]
    for idx in tqdm(length_batches(all_prompts, batch_size), desc=desc, unit="batch"):
        batch = [questions[i] for i in idx]
        prompts = [all_prompts[i] for i in idx]
        tries = [option_trie(backend, fmt, q)[0] if constrain else None for q in batch]
        gens = backend.greedy([GreedyRequest(p, t) for p, t in zip(prompts, tries)], max_new_tokens=max_new_tokens,
                              stop_strings=None if constrain else fmt.stop_strings(), hidden_layer=layer)
        for i, q, g in zip(idx, batch, gens):
            key, ok = grade(g.text, q, fmt.tagged, equivalence)
            out[i] = {"qid": q["id"], "text": g.text, "answer_key": key, "correct": ok, "token_ids": g.token_ids,
                      "token_logprobs": g.token_logprobs, "n_tokens": g.n_tokens}
            feats[i] = g.hidden
    return out, (np.stack(feats).astype(np.float32) if layer is not None and feats else None)
