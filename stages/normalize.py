"""Stage normalize: the first `n` samples of each question -> answer classes and frequencies (data/answers/).
Usage: python stages/normalize.py {calibration|test}"""

import sys

from ud import io, paths, stage
from ud.method.answer_sets import answer_sets
from ud.records import ANSWER_SETS, SAMPLES, by_question


def main(p, split: str):
    qs = paths.questions(split)
    meta = io.read_json(paths.samples_meta(split))
    out = answer_sets(qs, by_question(SAMPLES.read(paths.samples_file(split))), estimator=meta["estimator"], n=p.n,
                      adaptive=bool(meta.get("adaptive")), require_tags=p.prompt.template == "reasoning",
                      normalize=p.normalize, model_id=meta["model"]["id"],
                      dtype=meta["model"].get("dtype", "float32"), seed=p.seed, source=str(paths.samples_file(split)))
    ANSWER_SETS.write(paths.answers_file(split), out)
    total = sum(a["n"] or 0 for a in out)
    invalid = sum(a["invalid"] for a in out)
    summary = {"split": split, "questions": len(out), "samples": total, "invalid": invalid,
               "invalid_rate": invalid / total if total else 0.0,
               "top_accuracy": sum(bool(a["classes"]) and a["classes"][0]["correct"] for a in out) / len(out)}
    if any(not q.get("choices") for q in qs):  # how often equivalence merged what exact match keeps apart
        summary["clusters"] = sum(len(a["classes"]) for a in out)
        summary["clusters_merging_surface_forms"] = sum(c.get("surface_forms", 1) > 1 for a in out
                                                        for c in a["classes"])
        summary["exact_match_clusters"] = sum(c.get("surface_forms", 1) for a in out for c in a["classes"])
    print(f"normalize {split}: {summary}")


if __name__ == "__main__":
    stage.run(main, sys.argv[1])
