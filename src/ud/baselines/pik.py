"""P(IK) (Kadavath et al. 2022; Farquhar et al. 2024): a logistic-regression probe on the base model's hidden
state at the end of its greedy answer, trained on the calibration split to predict whether the answer is right.
Saved as JSON (standardization + weights), never pickle."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.preprocessing import StandardScaler

from ud.metrics.scores import greedy_answer


class Probe:
    def __init__(self, mean, scale, coef, intercept):
        self.mean, self.scale = np.asarray(mean), np.asarray(scale)
        self.coef, self.intercept = np.asarray(coef), float(intercept)

    @classmethod
    def fit(cls, x: np.ndarray, y, c: float | str = "cv", seed: int = 0) -> Probe:
        """c: the inverse L2 strength, or "cv" to pick it by 5-fold cross-validated AUROC on (x, y) itself
        (hidden states are wide and calibration splits small, so the strength matters)."""
        y = np.asarray(y, dtype=int)
        sc = StandardScaler().fit(x)
        if len(set(y.tolist())) < 2:  # the model is always wrong (or right): nothing to learn, say so
            print(f"warning: P(IK) probe: every calibration answer is {'right' if y.all() else 'wrong'}; "
                  "it predicts that base rate for every answer")
            rate = float(np.clip(y.mean(), 1e-3, 1 - 1e-3)) if len(y) else 0.5
            self = cls(sc.mean_, sc.scale_, np.zeros(x.shape[1]), float(np.log(rate / (1 - rate))))
            self.c, self.degenerate = None, True
            return self
        z = sc.transform(x)
        if c == "cv":
            with warnings.catch_warnings():  # sklearn 1.9 announces attribute changes we do not rely on
                warnings.simplefilter("ignore", FutureWarning)
                lr = LogisticRegressionCV(Cs=np.logspace(-5, 1, 13), cv=5, scoring="roc_auc", max_iter=2000,
                                          random_state=seed).fit(z, y)
            self = cls(sc.mean_, sc.scale_, lr.coef_[0], lr.intercept_[0])
            self.c = float(lr.C_[0])
            return self
        lr = LogisticRegression(C=float(c), max_iter=2000, random_state=seed).fit(z, y)
        self = cls(sc.mean_, sc.scale_, lr.coef_[0], lr.intercept_[0])
        self.c = float(c)
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = ((np.asarray(x) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept, "C": getattr(self, "c", None),
                "degenerate": getattr(self, "degenerate", False)}

    @classmethod
    def from_json(cls, d: dict) -> Probe:
        return cls(d["mean"], d["scale"], d["coef"], d["intercept"])


def fit(features: np.ndarray, calibration: list[dict], c: float | str = "cv", seed: int = 0) -> Probe:
    """The probe on the calibration split's greedy answers (features in record order)."""
    return Probe.fit(features, [r["correct"] for r in calibration], c=c, seed=seed)


def score(probe: Probe, features: np.ndarray, records: list[dict]) -> list[dict]:
    """One extra forward pass per answer: the features (read from the greedy answer's own decoding passes)."""
    probs = probe(features)
    return [greedy_answer(r, p, p, extra_forward_passes=1)
            for r, p in zip(records, probs)]
