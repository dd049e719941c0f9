"""Stage baselines_ptrue: P(True), the base model asked whether its greedy answer is true, few-shot."""

from __future__ import annotations

import random

from ud.pipeline.baselines import greedy
from ud.pipeline.paths import questions, write_method


def run(p: dict) -> dict:
    from ud.baselines import ptrue
    from ud.baselines.scores import score_method

    backend, _, _ = greedy.base_backend(p)
    cal_q = {q["id"]: q for q in questions("calibration")}
    cal, test, test_q = greedy.load("calibration"), greedy.load("test"), questions("test")
    rng = random.Random(p["seed"])
    shots = p["baselines"]["ptrue"]["shots"]
    right = [r for r in cal if r["correct"]]
    wrong = [r for r in cal if not r["correct"] and r["answer_index"] is not None]
    picked = rng.sample(right, min(len(right), (shots + 1) // 2)) + rng.sample(wrong, min(len(wrong), shots // 2))
    rng.shuffle(picked)  # balanced True/False examples, in random order
    examples = [(cal_q[r["qid"]], r["text"], r["correct"]) for r in picked]
    scores, dt = ptrue.run(backend, test_q, test, examples)
    metrics, rel = score_method("ptrue", test, scores, scores, p["bins"],
                                greedy.cost(test, extra_seconds=dt, extra_passes=1))
    write_method("ptrue", metrics, rel)
    return metrics
