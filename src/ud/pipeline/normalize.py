"""Stage normalize."""

from __future__ import annotations

from collections import defaultdict

from ud import io
from ud.errors import DataError
from ud.pipeline.paths import answers_file, questions, samples_file, samples_meta


def run(p: dict, split: str) -> dict:
    from ud.normalize import answer_set, answer_set_exact

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
    for qid, q in qs.items():
        recs = by_q[qid]
        if estimator == "exact":
            out.append(answer_set_exact(q, recs[0]))
            continue
        drawn = len(recs)
        if p["n"] > drawn and not adaptive:  # adaptive N stops settled questions early, by design
            raise DataError(f"n={p['n']}: only {drawn} samples were drawn for {qid}; raise sample.n and resample")
        out.append(answer_set(q, recs, min(p["n"], drawn), require_tags))
    io.write_jsonl(answers_file(split), out)
    total = sum(a["n"] or 0 for a in out)
    invalid = sum(a["invalid"] for a in out)
    summary = {"split": split, "questions": len(out), "samples": total, "invalid": invalid,
               "invalid_rate": invalid / total if total else 0.0,
               "top_accuracy": sum(bool(a["classes"]) and a["classes"][0]["correct"] for a in out) / len(out)}
    print(f"normalize {split}: {summary}")
    return summary
