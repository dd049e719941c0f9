"""The teacher: the estimator of the sample stage run on the test questions, passed through the fitted
calibrator and binner -- what the distilled model imitates, at N times the cost."""

from __future__ import annotations

from ud import io, paths
from ud.method.binning import Binner
from ud.method.calibrate import Calibrator
from ud.records import ANSWER_SETS


def score(answer_sets: list[dict], calibrator: Calibrator, binner, cost: dict) -> list[dict]:
    """The common answer record per question: its top answer, the bin of its calibrated frequency (raw: the
    frequency itself). A question whose samples were all invalid has no answer and sits in the lowest bin.
    cost: {samples, generated_tokens, extra_forward_passes} per answer."""
    out = []
    for a in answer_sets:
        if not a["classes"]:
            out.append({"qid": a["qid"], "answer_key": None, "correct": False, "confidence": None, "raw": 0.0,
                        "bin": 0, **cost})
            continue
        top = a["classes"][0]
        p = float(calibrator([top["f"]])[0])
        out.append({"qid": a["qid"], "answer_key": top["key"], "correct": bool(top["correct"]), "confidence": p,
                    "raw": float(top["f"]), "bin": int(binner.index([p])[0]), **cost})
    return out


def records(split: str) -> list[dict]:
    """The teacher's answer records on `split`, from what the pipeline wrote: its answer sets, the fitted calibrator
    and binner, and its cost per answer from the samples' meta (exact: one prefill, no samples)."""
    meta = io.read_json(paths.samples_meta(split))
    asets = ANSWER_SETS.read(paths.answers_file(split))
    n = max(1, len(asets))
    exact = meta["estimator"] == "exact"
    cost = {"samples": 0 if exact else meta["n"], "generated_tokens": 0 if exact else meta["generated_tokens"] / n,
            "extra_forward_passes": 1 if exact else 0}
    recs = score(asets, Calibrator.from_json(io.read_json(paths.CALIBRATOR)),
                 Binner.from_json(io.read_json(paths.BINNER)), cost)
    return [dict(r, set=split) for r in recs]
