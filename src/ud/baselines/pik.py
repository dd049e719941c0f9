"""P(IK) (Kadavath et al. 2022; Farquhar et al. 2024): a logistic-regression probe on the base model's hidden
state at the end of its greedy answer, trained on the calibration split to predict whether the answer is right.
Saved as JSON (standardization + weights), never pickle."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


class Probe:
    def __init__(self, mean, scale, coef, intercept):
        self.mean, self.scale = np.asarray(mean), np.asarray(scale)
        self.coef, self.intercept = np.asarray(coef), float(intercept)

    @classmethod
    def fit(cls, x: np.ndarray, y, c: float = 1.0, seed: int = 0) -> Probe:
        y = np.asarray(y, dtype=int)
        if len(set(y.tolist())) < 2:
            raise ValueError("P(IK) probe needs both right and wrong answers in the calibration split")
        sc = StandardScaler().fit(x)
        lr = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(sc.transform(x), y)
        return cls(sc.mean_, sc.scale_, lr.coef_[0], lr.intercept_[0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = ((np.asarray(x) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept}

    @classmethod
    def from_json(cls, d: dict) -> Probe:
        return cls(d["mean"], d["scale"], d["coef"], d["intercept"])
