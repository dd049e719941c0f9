"""Semantic clustering (Kuhn et al. 2023; Farquhar et al. 2024): K samples at inference, clustered with the
pipeline's normalizer (for multiple choice: the option they name); the answer is the largest cluster and the
confidence its share of the K samples (invalid samples count in K)."""

from __future__ import annotations

from collections import Counter

from ud.normalize import DEFAULT_EQUIVALENCE, judge


def cluster_answer(q: dict, samples: list[dict], k: int, require_tags: bool,
                   equivalence=DEFAULT_EQUIVALENCE) -> dict:
    """{answer_index, share, correct} from the first k samples (by index) of one question; answer_index is the
    option index (multiple choice) or the equivalence key (open answers)."""
    first = sorted(samples, key=lambda s: s["k"])[:k]
    if len(first) < k:
        raise ValueError(f"question {q['id']}: {len(first)} samples, K={k} requested")
    judged = [judge(s["text"], q, require_tags, equivalence) for s in first]
    counts = Counter(c for c, _ in judged if c is not None)
    right = {c: ok for c, ok in judged if c is not None}
    if not counts:
        return {"qid": q["id"], "answer_index": None, "share": 0.0, "correct": False}
    idx, c = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))  # largest cluster; ties -> lower option / key
    return {"qid": q["id"], "answer_index": idx, "share": c / k, "correct": right[idx]}
