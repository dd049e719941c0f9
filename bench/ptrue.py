"""P(True) benchmark: one full forward pass per question (the few-shot prefix recomputed every time) vs the shared
prefix (its KV computed once, questions in right-padded batches), in one process on the same prompts.

    python bench/ptrue.py                      # default model, 4 shots, 64 ARC-Easy questions, 3 repeats

Prints seconds per question for each path, their ratio (median of --repeats) and the largest score difference.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ud.baselines import ptrue
from ud.data import sources
from ud.engines import models
from ud.engines.hf import HFBackend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--questions", type=int, default=64)
    ap.add_argument("--shots", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    models.set_threads()
    model, tok, _ = models.load(args.model)
    backend = HFBackend(model, tok)
    qs = sources.load_questions("olmo", "arc_easy", "validation")[: args.questions + args.shots]
    shots = [(q, q["choices"][q["answer"] if i % 2 == 0 else (q["answer"] + 1) % len(q["choices"])], i % 2 == 0)
             for i, q in enumerate(qs[: args.shots])]
    test = qs[args.shots:]
    prompts = [ptrue.shots_text(shots) + ptrue.block(q, q["choices"][0]) for q in test]
    full_t, shared_t = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        full = [ptrue.p_true(backend, [p])[0] for p in prompts]
        full_t.append((time.perf_counter() - t0) / len(prompts))
        backend.forget_caches()  # the prefix's KV is computed inside the timed run, as in the stage
        t0 = time.perf_counter()
        prefix = ptrue.prefix_ids(backend, ptrue.shots_text(shots))
        shared = [s for i in range(0, len(prompts), args.batch_size)
                  for s in ptrue.p_true(backend, prompts[i:i + args.batch_size], prefix)]
        shared_t.append((time.perf_counter() - t0) / len(prompts))
    f, s = statistics.median(full_t), statistics.median(shared_t)
    prefix_tokens = len(tok(ptrue.shots_text(shots))["input_ids"])
    print(f"P(True), {len(prompts)} questions, {args.shots} shots ({prefix_tokens} prefix tokens), "
          f"torch threads {torch.get_num_threads()}:")
    print(f"  full pass per question : {f * 1000:.1f} ms/question")
    print(f"  shared prefix, batch {args.batch_size}: {s * 1000:.1f} ms/question")
    print(f"  speedup {f / s:.2f}x; max |score difference| {max(abs(a - b) for a, b in zip(full, shared)):.2e}")


if __name__ == "__main__":
    main()
