"""Stage normalize."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ud import io
from ud.errors import DataError
from ud.pipeline.paths import answers_file, questions, samples_file, samples_meta


def pairwise_merger(p: dict):
    """The normalize.cluster method (None, NLI or LLM judge) as a merge function for answer_set_open."""
    from ud.clustering import JudgeClusterer, NLIClusterer, Prefilter, embedding_path

    nz = p["normalize"]
    if nz["cluster"] is None:
        return None
    pre = nz["prefilter"]
    prefilter = Prefilter(embedding_path(pre["model"]), pre["threshold"]) if pre["model"] else None
    if nz["cluster"] == "nli":
        return NLIClusterer(nz["nli"]["model"], nz["nli"]["rule"], nz["nli"]["batch_size"], prefilter)
    from ud.backends import make
    from ud.sampling import definition_hash

    judge_id = nz["judge"]["model"] or p["model"]["id"]
    backend, _ = make("hf", judge_id, chat=True)
    cache = Path("data/cache/judge") / f"{definition_hash({'model': judge_id})}.jsonl"
    return JudgeClusterer(backend, cache, nz["judge"]["max_new_tokens"], prefilter)


def run(p: dict, split: str) -> dict:
    from ud.normalize import answer_set, answer_set_exact, answer_set_open

    qs = {q["id"]: q for q in questions(split)}
    by_q: dict[str, list[dict]] = defaultdict(list)
    for rec in io.read_jsonl(samples_file(split)):
        by_q[rec["qid"]].append(rec)
    missing = [qid for qid in qs if qid not in by_q]
    if missing:
        raise DataError(f"{samples_file(split)} has no samples for {len(missing)} questions (e.g. {missing[0]}); "
                        "rerun the sample stage")
    meta = io.read_json(samples_meta(split))
    estimator, adaptive = meta["estimator"], bool(meta.get("adaptive"))
    require_tags = p["prompt"]["template"] == "reasoning"
    out = []
    merge = False  # built on the first open question (loads a model when normalize.cluster is set)
    for qid, q in qs.items():
        recs = by_q[qid]
        if estimator == "exact":
            out.append(answer_set_exact(q, recs[0]))
            continue
        drawn = len(recs)
        if p["n"] > drawn and not adaptive:  # adaptive N stops settled questions early, by design
            raise DataError(f"n={p['n']}: only {drawn} samples were drawn for {qid}; raise sample.n and resample")
        if q.get("choices"):
            out.append(answer_set(q, recs, min(p["n"], drawn), require_tags))
        else:  # open answer: clusters of equivalent answers
            if merge is False:
                merge = pairwise_merger(p)
            out.append(answer_set_open(q, recs, min(p["n"], drawn), require_tags, p["normalize"]["equivalence"],
                                       p["seed"], merge))
    io.write_jsonl(answers_file(split), out)
    total = sum(a["n"] or 0 for a in out)
    invalid = sum(a["invalid"] for a in out)
    summary = {"split": split, "questions": len(out), "samples": total, "invalid": invalid,
               "invalid_rate": invalid / total if total else 0.0,
               "top_accuracy": sum(bool(a["classes"]) and a["classes"][0]["correct"] for a in out) / len(out)}
    merged = [c for a in out for c in a["classes"] if c.get("surface_forms", 1) > 1]
    if any(not q.get("choices") for q in qs.values()):  # how often equivalence merged what exact match keeps apart
        summary["clusters"] = sum(len(a["classes"]) for a in out)
        summary["clusters_merging_surface_forms"] = len(merged)
        summary["exact_match_clusters"] = sum(c.get("surface_forms", 1) for a in out for c in a["classes"])
    print(f"normalize {split}: {summary}")
    return summary
