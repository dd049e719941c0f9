"""Stage baselines_lexical: mean token probability of the greedy answer, calibrated on the calibration split."""

from __future__ import annotations

from ud import io
from ud.pipeline.baselines import greedy
from ud.pipeline.paths import LEXICAL_CALIBRATOR, write_method


def run(p: dict) -> dict:
    from ud.baselines import lexical

    test = greedy.load("test")
    (metrics, rel), calibrator = lexical.run(greedy.load("calibration"), test, p["bins"], greedy.cost(test))
    io.write_json(LEXICAL_CALIBRATOR, calibrator.to_json())
    write_method("lexical", metrics, rel)
    return metrics
