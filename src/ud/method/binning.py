"""Binning calibrated probabilities into B confidence bins and the words (or numbers) that name them."""

from __future__ import annotations

import numpy as np

from ud.data.prompts import DEFAULT_LABELS_5


def default_labels(edges: list[float]) -> list[str]:
    b = len(edges) - 1
    if b == 5 and np.allclose(edges, np.linspace(0, 1, 6)):
        return list(DEFAULT_LABELS_5)
    return [f"{round(100 * lo)}-{round(100 * hi)}%" for lo, hi in zip(edges[:-1], edges[1:])]


class Binner:
    """Right-open bins [e_i, e_{i+1}) over [0, 1]; the last bin includes 1.0.

    `values` is each bin's mean calibrated p on the calibration data (the midpoint when empty): what a label meant
    there, kept in binner.json for reading. Metrics take every bin at its midpoint (`midpoints`), for every method.
    """

    def __init__(self, edges: list[float], labels: list[str] | None = None, values: list[float] | None = None):
        edges = [float(e) for e in edges]
        if len(edges) < 3 or edges[0] != 0.0 or edges[-1] != 1.0 or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"bin edges must increase strictly from 0 to 1 with >= 2 bins, got {edges}")
        self.edges = edges
        self.labels = list(labels) if labels else default_labels(edges)
        if len(self.labels) != self.n_bins:
            raise ValueError(f"{len(self.labels)} labels for {self.n_bins} bins")
        self.values = list(values) if values else [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]

    @property
    def n_bins(self) -> int:
        return len(self.edges) - 1

    @property
    def midpoints(self) -> list[float]:
        """What each bin stands for in ECE, Brier and the expected confidence: the middle of its edges, for every
        method alike."""
        return [(a + b) / 2 for a, b in zip(self.edges[:-1], self.edges[1:])]

    @classmethod
    def fixed(cls, bins: int, labels=None) -> Binner:
        return cls([round(float(e), 10) for e in np.linspace(0.0, 1.0, bins + 1)], labels)

    @classmethod
    def fixed_range(cls, bins: int, low: float, labels=None) -> Binner:
        """Equal width over [low, 1] (a top-of-k answer is always >= 1/k): the first bin also holds [0, low)."""
        if not 0.0 < low < 1.0:
            raise ValueError(f"fixed_range needs 0 < low < 1, got {low}")
        return cls([0.0] + [round(float(e), 10) for e in np.linspace(low, 1.0, bins + 1)[1:]], labels)

    @classmethod
    def quantile(cls, bins: int, p, labels=None) -> Binner:
        """Edges that split the calibrated probabilities into groups of (nearly) equal size.

        Isotonic outputs are step functions with many ties, so edges go midway between neighbouring distinct
        values at each target rank; if ties leave fewer than bins-1 edges, the widest bins are split in half
        (those bins stay empty on the calibration data, but every label keeps a meaning)."""
        p = np.sort(np.clip(np.asarray(p, dtype=float), 0.0, 1.0))
        vals, counts = np.unique(p, return_counts=True)
        cum = np.cumsum(counts)
        inner: set[float] = set()
        for k in range(1, bins):
            j = int(np.searchsorted(cum, k * len(p) / bins))  # first distinct value reaching the target rank
            if j + 1 < len(vals):
                inner.add(round(float((vals[j] + vals[j + 1]) / 2), 6))
        edges = sorted({0.0, 1.0, *(e for e in inner if 0.0 < e < 1.0)})
        while len(edges) < bins + 1:
            i = int(np.argmax(np.diff(edges)))
            edges.insert(i + 1, round((edges[i] + edges[i + 1]) / 2, 6))
        return cls(edges, labels)

    def index(self, p) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
        return np.clip(np.searchsorted(self.edges, p, side="right") - 1, 0, self.n_bins - 1)

    def label(self, p) -> list[str]:
        return [self.labels[i] for i in np.atleast_1d(self.index(p))]

    def high_bins(self) -> list[int]:
        """The 'high' bins of §4.3: "high" and "very high" for 5 bins; the top 40% of bins in general."""
        k = max(1, round(0.4 * self.n_bins))
        return list(range(self.n_bins - k, self.n_bins))

    def fit_values(self, p) -> Binner:
        idx = self.index(p)
        p = np.asarray(p, dtype=float)
        self.values = [float(p[idx == i].mean()) if (idx == i).any() else v for i, v in enumerate(self.values)]
        return self

    def to_json(self) -> dict:
        return {"edges": self.edges, "labels": self.labels, "values": self.values}

    @classmethod
    def from_json(cls, d: dict) -> Binner:
        return cls(d["edges"], d["labels"], d.get("values"))
