"""The teacher: the estimator of the sample stage run on the scored questions (and, by the teacher_shift stage, on
every domain-shift dataset), passed through the fitted calibrator and binner -- what the distilled model imitates,
at N times the cost."""

from __future__ import annotations

from pathlib import Path

from ud import io, paths
from ud.method.binning import Binner
from ud.method.calibrate import Calibrator
from ud.records import ANSWER_SETS

# the teacher_shift stage's output: <set>.jsonl (answer sets) per domain-shift dataset, and sets.json, what each
# set's draws cost ({set: {estimator, n, questions, generated_tokens}}, {} when no shift set is scored)
SHIFT_ANSWERS = paths.ANSWERS_DIR / "shift"


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


def cost(draws: dict, questions: int) -> dict:
    """Per answer, from what drawing cost ({estimator, n, generated_tokens}: a samples meta): exact is one prefill and
    no sample, a sampling estimator its n samples and their tokens."""
    exact = draws["estimator"] == "exact"
    return {"samples": 0 if exact else draws["n"],
            "generated_tokens": 0 if exact else draws["generated_tokens"] / max(1, questions),
            "extra_forward_passes": 1 if exact else 0}


def _scored(answer_sets: list[dict], draws: dict, set_name: str) -> list[dict]:
    recs = score(answer_sets, Calibrator.from_json(io.read_json(paths.CALIBRATOR)),
                 Binner.from_json(io.read_json(paths.BINNER)), cost(draws, len(answer_sets)))
    return [dict(r, set=set_name) for r in recs]


def records(split: str) -> list[dict]:
    """The teacher's answer records on `split`, from what the pipeline wrote: its answer sets, the fitted calibrator
    and binner, and its cost per answer from the samples' meta (exact: one prefill, no samples)."""
    return _scored(ANSWER_SETS.read(paths.answers_file(split)), io.read_json(paths.samples_meta(split)), split)


def shift_records(folder: Path = SHIFT_ANSWERS) -> list[dict]:
    """The teacher's answer records on every domain-shift dataset the teacher_shift stage drew (none: [])."""
    sets = io.read_json(folder / "sets.json")
    return [r for name, draws in sets.items() for r in _scored(ANSWER_SETS.read(folder / f"{name}.jsonl"), draws,
                                                               name)]
