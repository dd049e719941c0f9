"""Semantic clustering (Kuhn et al. 2023; Farquhar et al. 2024): K samples at inference, clustered with the
pipeline's normalizer (for multiple choice: the option they name); the answer is the largest cluster and the
confidence its share of the K samples (invalid samples count in K). Unsupervised: no fit."""

from __future__ import annotations

from ud.method.normalize import DEFAULT_EQUIVALENCE, answer_set, answer_set_open


def cluster_answer(q: dict, samples: list[dict], k: int, require_tags: bool,
                   equivalence=DEFAULT_EQUIVALENCE, merge=None) -> dict:
    """{answer_key, share, correct} from the first k samples (by index) of one question, clustered as the teacher's
    answer sets are (the option for multiple choice; equivalence keys, then the pairwise `merge` of
    normalize.cluster, for open answers): the largest cluster (ties: the lower option / the earlier sample)."""
    first = sorted(samples, key=lambda s: s["k"])[:k]
    if len(first) < k:
        raise ValueError(f"question {q['id']}: {len(first)} samples, K={k} requested")
    if q.get("choices"):
        aset = answer_set(q, first, k, require_tags)
    else:
        aset = answer_set_open(q, first, k, require_tags, equivalence, merge=merge)
    if not aset["classes"]:
        return {"qid": q["id"], "answer_key": None, "share": 0.0, "correct": False}
    top = aset["classes"][0]
    return {"qid": q["id"], "answer_key": top["index"] if q.get("choices") else top["key"], "share": top["count"] / k,
            "correct": bool(top["correct"])}


def score(questions: list[dict], samples: dict[str, list[dict]], k: int, require_tags: bool, *,
          tokens_per_sample: float, exact: bool = False, equivalence=DEFAULT_EQUIVALENCE,
          merge=None) -> list[dict]:
    """The common answer record of each question at K = k. Cost: k fresh samples at the measured token rate; with
    the `exact` estimator, the one prefill that gives the option distribution every K draws from (no decoding)."""
    out = []
    for q in questions:
        r = cluster_answer(q, samples[q["id"]], k, require_tags, equivalence, merge)
        out.append({"set": q.get("set"), "qid": q["id"], "k": k, "answer_key": r["answer_key"],
                    "correct": r["correct"], "confidence": r["share"], "raw": r["share"], "bin": None,
                    "samples": 0 if exact else k, "generated_tokens": 0 if exact else k * tokens_per_sample,
                    "extra_forward_passes": 1 if exact else 0})
    return out
