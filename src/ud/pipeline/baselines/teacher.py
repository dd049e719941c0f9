"""Stage baselines_teacher: the N-sample teacher itself (calibrated frequency of its top answer, binned)."""

from __future__ import annotations

from ud import io
from ud.pipeline.paths import BINNER, CALIBRATOR, answers_file, samples_meta, write_method


def run(p: dict) -> dict:
    from ud.baselines import teacher
    from ud.binning import Binner
    from ud.calibrate import Calibrator

    asets = list(io.read_jsonl(answers_file("test")))
    meta = io.read_json(samples_meta("test"))
    n = len(asets) or 1
    exact = meta["estimator"] == "exact"
    cost = {"samples_per_answer": 1 if exact else meta["n"],
            "forward_passes_per_answer": meta["generated_tokens"] / n,
            "generated_tokens_per_answer": 0 if exact else meta["generated_tokens"] / n,
            "seconds_per_answer": meta["compute_seconds"] / n if meta.get("compute_seconds") is not None else None,
            "estimator": meta["estimator"]}
    metrics, rel = teacher.run(asets, Calibrator.from_json(io.read_json(CALIBRATOR)),
                               Binner.from_json(io.read_json(BINNER)), cost)
    write_method("teacher", metrics, rel)
    return metrics
