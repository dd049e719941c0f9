"""One metrics function for every method, so every row of the comparison is computed the same way.

Input per test question: correct (bool; an invalid answer counts as incorrect), bin index (None when the
confidence could not be read), and the numeric confidence the bin stands for.
"""

from __future__ import annotations

import numpy as np


def auroc(scores, correct) -> float | None:
    """sklearn's AUROC (ties count half); None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(correct, dtype=int)
    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, np.asarray(scores, dtype=float)))


def auroc_ci(scores, correct, n_boot: int = 1000, seed: int = 0) -> list[float] | None:
    """95% percentile bootstrap interval of the AUROC."""
    s, y = np.asarray(scores, dtype=float), np.asarray(correct, dtype=int)
    if len(set(y.tolist())) < 2:
        return None
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        a = auroc(s[i], y[i])
        if a is not None:
            vals.append(a)
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))] if vals else None


def ece(conf, correct, n_bins: int = 30) -> float:
    """Expected calibration error with equal-width bins over [0, 1] (Appendix G uses 30)."""
    conf, y = np.asarray(conf, dtype=float), np.asarray(correct, dtype=float)
    if len(conf) == 0:
        return float("nan")
    idx = np.clip((conf * n_bins).astype(int), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            total += m.sum() / len(conf) * abs(y[m].mean() - conf[m].mean())
    return float(total)


def discrete_ece(bin_idx, values, correct) -> float:
    """ECE where the bins are the confidence bins themselves and each bin's confidence is its value."""
    b, y = np.asarray(bin_idx, dtype=int), np.asarray(correct, dtype=float)
    total = 0.0
    for i in np.unique(b):
        m = b == i
        total += m.sum() / len(b) * abs(y[m].mean() - values[i])
    return float(total)


def reliability(bin_idx, correct, labels: list[str], values: list[float], min_count: int = 10) -> list[dict]:
    """Per-bin rows for a reliability diagram; `drawn` is False for bins with < min_count answers (§4.3)."""
    b, y = np.asarray(bin_idx, dtype=int), np.asarray(correct, dtype=float)
    rows = []
    for i, label in enumerate(labels):
        m = b == i
        cnt = int(m.sum())
        rows.append({"bin": i, "label": label, "count": cnt,
                     "accuracy": float(y[m].mean()) if cnt else None,
                     "mean_confidence": float(values[i]), "drawn": cnt >= min_count})
    return rows


def summarize(method: str, correct, bin_idx, labels: list[str], values: list[float], high_bins: list[int],
              answer_invalid: int = 0, confidence_invalid: int = 0, cost: dict | None = None,
              extra: dict | None = None) -> tuple[dict, list[dict]]:
    """Metrics dict and reliability rows. `bin_idx` entries of None (unreadable confidence) go to bin 0."""
    y = np.asarray([bool(c) for c in correct], dtype=int)
    n = len(y)
    b = np.asarray([0 if i is None else int(i) for i in bin_idx], dtype=int)
    conf = np.asarray([values[i] for i in b], dtype=float)
    high = np.isin(b, high_bins)
    out = {
        "method": method,
        "n": n,
        "auroc": auroc(b, y),
        "auroc_ci": auroc_ci(b, y),
        "accuracy": float(y.mean()) if n else None,
        "high_acc": float(y[high].mean()) if high.any() else None,
        "high_pct": float(100 * high.mean()) if n else None,
        "ece": discrete_ece(b, values, y) if n else None,
        "brier": float(np.mean((conf - y) ** 2)) if n else None,
        "invalid_rate": answer_invalid / n if n else None,
        "confidence_invalid_rate": confidence_invalid / n if n else None,
        "cost": cost or {},
    }
    if extra:
        out.update(extra)
    return out, reliability(b, y, labels, values)
