"""Semantic clustering (Kuhn et al. 2023; Farquhar et al. 2024): K samples at inference, clustered with the
pipeline's normalizer (for multiple choice: the option they name); the answer is the largest cluster and the
confidence its share of the K samples (invalid samples count in K). Unsupervised: no fit."""

from __future__ import annotations

from collections import Counter

from ud.normalize import DEFAULT_EQUIVALENCE, grade


def cluster_answer(q: dict, samples: list[dict], k: int, require_tags: bool,
                   equivalence=DEFAULT_EQUIVALENCE) -> dict:
    """{answer_key, share, correct} from the first k samples (by index) of one question; answer_key is the
    option index (multiple choice) or the equivalence key (open answers)."""
    first = sorted(samples, key=lambda s: s["k"])[:k]
    if len(first) < k:
        raise ValueError(f"question {q['id']}: {len(first)} samples, K={k} requested")
    graded = [grade(s["text"], q, require_tags, equivalence) for s in first]
    counts = Counter(c for c, _ in graded if c is not None)
    right = {c: ok for c, ok in graded if c is not None}
    if not counts:
        return {"qid": q["id"], "answer_key": None, "share": 0.0, "correct": False}
    key, c = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))  # largest cluster; ties -> lower option / key
    return {"qid": q["id"], "answer_key": key, "share": c / k, "correct": right[key]}


def score(questions: list[dict], samples: dict[str, list[dict]], k: int, require_tags: bool, *,
          tokens_per_sample: float, seconds_per_sample: float, equivalence=DEFAULT_EQUIVALENCE) -> list[dict]:
    """The common answer record of each question at K = k (cost: k fresh samples, at the measured rates)."""
    out = []
    for q in questions:
        r = cluster_answer(q, samples[q["id"]], k, require_tags, equivalence)
        out.append({"set": q.get("set"), "qid": q["id"], "k": k, "answer_key": r["answer_key"],
                    "correct": r["correct"], "confidence": r["share"], "raw": r["share"], "bin": None, "samples": k,
                    "generated_tokens": k * tokens_per_sample, "extra_forward_passes": 0,
                    "seconds": k * seconds_per_sample})
    return out
