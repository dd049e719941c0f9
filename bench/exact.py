"""Exact-estimator benchmark: the option probabilities from one prefill of the prompt with the options scored as a
batch from its KV cache (ud's exact_record) against the naive way -- the prompt copied once per option
into a right-padded batch and a full-vocabulary log-softmax taken at every position -- in one process, same prompts.

    python bench/exact.py                                   # default model, 16 ARC-Easy questions, 3 repeats
    python bench/exact.py --model qwen2.5-coder-1.5b-instruct --dataset mmlu --split validation --template qa_choices

Prints seconds per question for each path, the ratio (median of --repeats) and the largest probability difference.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ud.data import sources
from ud.data.prompts import Format
from ud.engines import models
from ud.engines.hf import HFBackend
from ud.sampling.estimators import exact_record, option_trie


@torch.no_grad()
def copied_prompt_probs(be: HFBackend, fmt: Format, q: dict, prompt: str) -> list[float]:
    """The reference path: prompt + each option as its own row, log-softmax over the whole batch."""
    trie, _ = option_trie(be, fmt, q)
    p_ids = be.encode([prompt])["input_ids"][0].tolist()
    seqs = [p_ids + s for s in trie.sequences]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), be.tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
    lsm = torch.log_softmax(be.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
    lps = []
    for i in range(len(seqs)):
        lp = 0.0
        for j, (tok, allowed) in enumerate(trie.steps(i)):
            row = lsm[i, len(p_ids) - 1 + j]
            lp += float(row[tok] - torch.logsumexp(row[allowed], dim=0))
        lps.append(lp)
    return torch.softmax(torch.tensor(lps, dtype=torch.float64), dim=0).tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--dataset", default="arc_easy")
    ap.add_argument("--split", default="validation")
    ap.add_argument("--template", default="qa")
    ap.add_argument("--answer", default="text")
    ap.add_argument("--questions", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    models.set_threads()
    model, tok, _ = models.load(a.model)
    be = HFBackend(model, tok)
    fmt = Format(a.template, a.answer)
    qs = sources.load_questions("olmo", a.dataset, a.split)[: a.questions]
    prompts = [fmt.prompt(q, tok) for q in qs]
    old_t, new_t, diff = [], [], 0.0
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        old = [copied_prompt_probs(be, fmt, q, p) for q, p in zip(qs, prompts)]
        old_t.append((time.perf_counter() - t0) / len(qs))
        be._prefill_memo = None
        t0 = time.perf_counter()
        new = [exact_record(be, fmt, q, p)["probs"] for q, p in zip(qs, prompts)]
        new_t.append((time.perf_counter() - t0) / len(qs))
        diff = max(diff, max(abs(x - y) for o, n in zip(old, new) for x, y in zip(o, n)))
    o, n = statistics.median(old_t), statistics.median(new_t)
    print(f"exact estimator, {a.model}, {len(qs)} {a.dataset} questions ({a.template}/{a.answer}), "
          f"torch threads {torch.get_num_threads()}:")
    print(f"  prompt copied per option, full log-softmax: {o:.3f} s/question")
    print(f"  one prefill, options from its KV cache    : {n:.3f} s/question")
    print(f"  speedup {o / n:.2f}x; max |probability difference| {diff:.1e}")


if __name__ == "__main__":
    main()
