"""Lexical baseline (paper §4.1): the base model's mean token probability of its greedy answer, calibrated by
isotonic regression fitted on the calibration split."""

from __future__ import annotations

import numpy as np

from ud.method.calibrate import Calibrator
from ud.metrics.scores import greedy_answer


def mean_token_probability(record: dict) -> float:
    """The lexical score: the average probability of the answer's tokens (paper §4.1, footnote 10)."""
    lps = record["token_logprobs"]
    return float(np.mean(np.exp(lps))) if lps else 0.0


def fit(calibration: list[dict]) -> Calibrator:
    """Isotonic map from mean token probability to P(correct), on the calibration split's greedy answers."""
    return Calibrator("isotonic").fit([mean_token_probability(r) for r in calibration],
                                      [r["correct"] for r in calibration])


def score(calibrator: Calibrator, records: list[dict]) -> list[dict]:
    raw = [mean_token_probability(r) for r in records]
    return [greedy_answer(r, p, s) for r, p, s in zip(records, calibrator(raw), raw)]
