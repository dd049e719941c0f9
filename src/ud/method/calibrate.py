"""Post-hoc calibrators f -> p (paper §3.2), saved as JSON (never pickle).

  isotonic  sklearn IsotonicRegression(out_of_bounds="clip"); saved as its breakpoints, applied by interpolation
  platt     sklearn LogisticRegression on logit(f); saved as (a, b)
  none      identity
"""

from __future__ import annotations

import numpy as np

from ud.errors import DataError

_EPS = 1e-6


def _logit(f: np.ndarray) -> np.ndarray:
    f = np.clip(f, _EPS, 1 - _EPS)
    return np.log(f / (1 - f))


METHODS = ("isotonic", "platt", "none")


class Calibrator:
    def __init__(self, method: str, state: dict | None = None):
        if method not in METHODS:  # never silently the identity
            raise DataError(f"unknown calibrator method {method!r}; known: {list(METHODS)}")
        self.method = method
        self.state = state or {}

    def fit(self, f, y) -> Calibrator:
        f = np.asarray(f, dtype=float)
        y = np.asarray(y, dtype=float)
        if len(f) == 0:
            raise DataError("calibrate: no valid predictions to fit on (every sample was invalid?); "
                            "check the prompt format and the answer-set invalid counts")
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(f, y)
            self.state = {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
        elif self.method == "platt":
            from sklearn.linear_model import LogisticRegression

            if len(set(y.tolist())) < 2:  # one class: the best constant is its rate
                self.state = {"a": 0.0, "b": float(_logit(np.array([y.mean()]))[0])}
            else:
                lr = LogisticRegression(C=1e6).fit(_logit(f)[:, None], y)
                self.state = {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
        else:
            self.state = {}
        return self

    def __call__(self, f) -> np.ndarray:
        f = np.asarray(f, dtype=float)
        if self.method == "isotonic":
            return np.interp(f, self.state["x"], self.state["y"])  # clips outside the fitted range
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.state["a"] * _logit(f) + self.state["b"])))
        return np.clip(f, 0.0, 1.0)

    def to_json(self) -> dict:
        return {"method": self.method, "state": self.state}

    @classmethod
    def from_json(cls, d: dict) -> Calibrator:
        return cls(d["method"], d["state"])


def points(answer_sets: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(f, correct) for every answer class of every question (Algorithm 1: all classes, not only the top one)."""
    f, y = [], []
    for a in answer_sets:
        for c in a["classes"]:
            f.append(c["f"])
            y.append(1.0 if c["correct"] else 0.0)
    return np.asarray(f), np.asarray(y)


def cross_fitted(method: str, f, y, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold calibrated probabilities: each point mapped by a calibrator fitted without its fold.
    In-sample isotonic regression has ECE ~0 by construction; this shows what it does on unseen data."""
    f, y = np.asarray(f, dtype=float), np.asarray(y, dtype=float)
    out = np.empty_like(f)
    idx = np.random.default_rng(seed).permutation(len(f))
    for k in range(folds):
        test = idx[k::folds]
        train = np.setdiff1d(idx, test)
        if len(train) == 0:
            return Calibrator(method).fit(f, y)(f)
        out[test] = Calibrator(method).fit(f[train], y[train])(f[test])
    return out
