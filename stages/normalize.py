"""Stage normalize: the first `n` samples of each question -> answer classes and frequencies (data/answers/).
Usage: python stages/normalize.py {calibration|test}"""

import sys
from collections import defaultdict

from ud import io, paths, stage
from ud.errors import DataError
from ud.method.clustering import merger
from ud.method.normalize import answer_set, answer_set_exact, answer_set_open
from ud.records import ANSWER_SETS, SAMPLES


def main(p, split: str):
    qs = {q["id"]: q for q in paths.questions(split)}
    by_q: dict[str, list[dict]] = defaultdict(list)
    for rec in SAMPLES.read(paths.samples_file(split)):
        by_q[rec["qid"]].append(rec)
    missing = [qid for qid in qs if qid not in by_q]
    if missing:
        raise DataError(f"{paths.samples_file(split)} has no samples for {len(missing)} questions (e.g. "
                        f"{missing[0]}); rerun the sample stage")
    meta = io.read_json(paths.samples_meta(split))
    estimator, adaptive = meta["estimator"], bool(meta.get("adaptive"))
    require_tags = p.prompt.template == "reasoning"
    out = []
    merge = False  # built on the first open question (loads a model when normalize.cluster is set)
    for qid, q in qs.items():
        recs = by_q[qid]
        if estimator == "exact":
            out.append(answer_set_exact(q, recs[0]))
            continue
        drawn = len(recs)
        if p.n > drawn and not adaptive:  # adaptive N stops settled questions early, by design
            raise DataError(f"n={p.n}: only {drawn} samples were drawn for {qid}; raise sample.n and resample")
        if q.get("choices"):
            out.append(answer_set(q, recs, min(p.n, drawn), require_tags))
        else:  # open answer: clusters of equivalent answers
            if merge is False:
                merge = merger(p.normalize, meta["model"]["id"], meta["model"].get("dtype", "float32"))
            out.append(answer_set_open(q, recs, min(p.n, drawn), require_tags, p.normalize.equivalence, p.seed,
                                       merge))
    ANSWER_SETS.write(paths.answers_file(split), out)
    total = sum(a["n"] or 0 for a in out)
    invalid = sum(a["invalid"] for a in out)
    summary = {"split": split, "questions": len(out), "samples": total, "invalid": invalid,
               "invalid_rate": invalid / total if total else 0.0,
               "top_accuracy": sum(bool(a["classes"]) and a["classes"][0]["correct"] for a in out) / len(out)}
    if any(not q.get("choices") for q in qs.values()):  # how often equivalence merged what exact match keeps apart
        summary["clusters"] = sum(len(a["classes"]) for a in out)
        summary["clusters_merging_surface_forms"] = sum(c.get("surface_forms", 1) > 1 for a in out
                                                        for c in a["classes"])
        summary["exact_match_clusters"] = sum(c.get("surface_forms", 1) for a in out for c in a["classes"])
    print(f"normalize {split}: {summary}")


if __name__ == "__main__":
    stage.run(main, sys.argv[1])
