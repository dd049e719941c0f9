"""Lexical baseline (paper §4.1): the base model's mean token probability of its greedy answer, calibrated by
isotonic regression fitted on the calibration split, then the fixed bins."""

from __future__ import annotations

from ud.baselines.greedy import mean_token_probability
from ud.baselines.scores import score_method
from ud.calibrate import Calibrator


def run(cal_records: list[dict], test_records: list[dict], bins: int, cost: dict):
    cal = Calibrator("isotonic").fit([mean_token_probability(r) for r in cal_records],
                                     [r["correct"] for r in cal_records])
    raw = [mean_token_probability(r) for r in test_records]
    probs = cal(raw)
    return score_method("lexical", test_records, probs, raw, bins, cost), cal
