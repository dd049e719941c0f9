"""The teacher: the estimator of the sample stage run on the test questions, passed through the fitted
calibrator and binner -- what the distilled model imitates, at N times the cost."""

from __future__ import annotations

from ud.binning import Binner
from ud.calibrate import Calibrator
from ud.metrics import summarize


def run(answer_sets: list[dict], calibrator: Calibrator, binner: Binner, cost: dict) -> tuple[dict, list[dict]]:
    correct, bins, invalid = [], [], 0
    for a in answer_sets:
        if not a["classes"]:  # every sample invalid: no answer, lowest confidence
            invalid += 1
            correct.append(False)
            bins.append(0)
            continue
        top = a["classes"][0]
        correct.append(bool(top["correct"]))
        bins.append(int(binner.index(calibrator([top["f"]]))[0]))
    return summarize("teacher", correct, bins, binner.labels, binner.values, binner.high_bins(),
                     answer_invalid=invalid, cost=cost)
