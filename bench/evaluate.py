"""Evaluate benchmark: the distilled model's one generation (answer + confidence label) against the base model's
greedy answer on the same questions, in one process.

    python bench/evaluate.py                             # the default: SmolLM2-135M, ARC-Easy, word labels
    python bench/evaluate.py --profile cpu-large         # Qwen2.5-Coder-1.5B (bf16), MMLU, letters, 10 numeric labels
    python bench/evaluate.py --batch-sizes 4,8,16        # also: which evaluate.batch_size is fastest here

The questions are drawn at random (seeded) from the validation split, so prompt lengths follow the distribution
the stage meets (MMLU's run from ~40 to ~800 tokens: the first questions of one subject do not), and a batch size
chosen here is chosen on validation.

Both paths run what the stages run: `ud.method.evaluate.distilled_answers` with the distilled model's prompt, the trie
of (option x label) completions and the label readout (the evaluate stage), and `ud.baselines.greedy.answer_questions`
(the greedy_eval stage, without P(IK)'s hidden states). Each runs the weights its stage loads: the greedy answer the
base model's, the distilled model the base with models/ud's LoRA adapter merged in (--adapter; without it, the base
weights stand in for it: same shapes, same passes, except the label readout's small pass, which a question needs
only when a label path chooses again off the label the model states).
Prints seconds per answer of each, their ratio (median of --repeats), and the forward passes per answer.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from ud.baselines.greedy import answer_questions
from ud.data import sources
from ud.data.prompts import DEFAULT_LABELS_5, Format
from ud.engines import models
from ud.engines.hf import HFBackend
from ud.method.binning import Binner
from ud.method.evaluate import distilled_answers
from ud.params import EvaluateParams

PROFILES = {  # what the profiles' evaluate and greedy stages run
    "default": {"model": "smollm2-135m-instruct", "dtype": "float32", "dataset": "arc_easy", "split": "validation",
                "format": Format("qa"), "binner": Binner.fixed(5, DEFAULT_LABELS_5), "greedy_tokens": 64,
                "greedy_batch": 16},
    "cpu-large": {"model": "qwen2.5-coder-1.5b-instruct", "dtype": "bfloat16", "dataset": "mmlu", "split": "validation",
                  "format": Format("qa_choices", "letter"), "binner": Binner.fixed(10),
                  "greedy_tokens": 8, "greedy_batch": 4},
}


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="default")
    ap.add_argument("--questions", type=int, default=32, help="drawn at random from the validation split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-sizes", default="16", help="evaluate batch sizes to time, comma-separated")
    ap.add_argument("--greedy-batch-size", type=int, default=None, help="default: the profile's greedy stages'")
    ap.add_argument("--adapter", default=None, help="a trained models/ud folder to merge (same cost as the base)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the measurements to this file")
    args = ap.parse_args()
    cfg = PROFILES[args.profile]
    args.greedy_batch_size = args.greedy_batch_size or cfg["greedy_batch"]
    fmt, binner = cfg["format"], cfg["binner"]
    model, tok, _ = models.load(cfg["model"], dtype=cfg["dtype"])
    backend = HFBackend(model, tok, chat=fmt.chat)
    distilled_model = models.load(cfg["model"], dtype=cfg["dtype"], adapter=args.adapter)[0] if args.adapter else model
    distilled_backend = HFBackend(distilled_model, tok, chat=fmt.chat)
    pool = sources.load_questions("olmo", cfg["dataset"], cfg["split"])
    qs = random.Random(args.seed).sample(pool, min(args.questions, len(pool)))
    n = len(qs)
    passes: dict[str, int] = {}
    count = lambda *a: passes.__setitem__("n", passes.get("n", 0) + 1)  # noqa: E731
    hooks = [m.register_forward_hook(count) for m in {id(model): model, id(distilled_model): distilled_model}.values()]

    def greedy():
        backend.forget_caches()
        return answer_questions(backend, fmt, qs, constrain=True, max_new_tokens=cfg["greedy_tokens"],
                                batch_size=args.greedy_batch_size, desc="greedy")

    def distilled(batch_size):
        distilled_backend.forget_caches()
        settings = EvaluateParams(constrain=True, max_new_tokens=64, batch_size=batch_size, label_rule="expected")
        return distilled_answers(distilled_backend, fmt, qs, binner, settings, desc=f"ud (batch {batch_size})")

    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    greedy_t, ud_t = [], {b: [] for b in batch_sizes}
    greedy_passes = ud_passes = 0
    for _ in range(args.repeats):
        passes["n"] = 0
        t, _ = timed(greedy)
        greedy_t.append(t / n)
        greedy_passes = passes["n"]
        for b in batch_sizes:
            passes["n"] = 0
            t, preds = timed(lambda b=b: distilled(b))
            ud_t[b].append(t / n)
            ud_passes = passes["n"]
    for hook in hooks:
        hook.remove()
    g = statistics.median(greedy_t)
    extra = sum(p["extra_forward_passes"] for p in preds) / n
    lengths = sorted(len(backend.prompt_ids(fmt.prompt(q, tok, ud=True, labels=binner.labels))) for q in qs)
    print(f"{args.profile}: {cfg['model']} ({cfg['dtype']}), {n} {cfg['dataset']} {cfg['split']} questions "
          f"(prompt tokens: median {lengths[n // 2]}, max {lengths[-1]}), "
          f"labels {binner.labels}, {args.repeats} repeats (medians)")
    print(f"  base model's greedy answer : {g * 1000:.1f} ms/answer (batch {args.greedy_batch_size}, "
          f"{greedy_passes} forward passes)")
    for b in batch_sizes:
        u = statistics.median(ud_t[b])
        print(f"  distilled model, batch {b:>3}: {u * 1000:.1f} ms/answer  ratio {u / g:.2f}x greedy")
    print(f"  distilled model: {ud_passes} forward passes for the last batch size; label readout passes per answer "
          f"{extra:.2f}")
    if args.json:
        import json
        import platform

        import torch

        result = {"profile": args.profile, "model": cfg["model"], "dtype": cfg["dtype"], "questions": n,
                  "split": cfg["split"], "repeats": args.repeats, "threads": torch.get_num_threads(),
                  "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
                  "greedy_seconds_per_answer": g, "greedy_batch_size": args.greedy_batch_size,
                  "distilled_seconds_per_answer": {b: statistics.median(ud_t[b]) for b in batch_sizes},
                  "ratio": {b: statistics.median(ud_t[b]) / g for b in batch_sizes},
                  "label_readout_passes_per_answer": extra}
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
