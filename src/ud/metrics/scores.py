"""One metrics function for every method, so every row of the comparison is computed the same way.

Every method writes one record per answer (data/eval/<method>.jsonl):
  {set, qid, answer_key, correct, confidence, raw, bin, samples, generated_tokens, extra_forward_passes}
  answer_key   the option index (multiple choice) or equivalence key (open answers); null = no readable answer,
               counted wrong
  confidence   a probability (methods with a continuous score, binned here into fixed-width bins), or null
  raw          the score before calibration (its AUROC is `auroc_raw`), or null
  bin          the bin the method itself stated (verbal methods), or null (unreadable, or a continuous method)
  samples, generated_tokens, extra_forward_passes   what the answer cost (see Cost); seconds are machine facts,
               kept apart from results (ud.timings)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

COST_FIELDS = ("samples", "generated_tokens", "extra_forward_passes")


@dataclass(frozen=True)
class Cost:
    """Inference cost per answer, averaged over a method's records."""
    samples_per_answer: float | None  # generations drawn to answer once (K for semantic clustering, N for the teacher)
    generated_tokens_per_answer: float | None  # tokens decoded, over all those generations
    extra_forward_passes_per_answer: float | None  # forward passes beyond decoding (P(True)'s check, P(IK)'s probe)

    @classmethod
    def of(cls, records: list[dict]) -> Cost:
        def mean(field):
            vals = [r.get(field) for r in records]
            return float(np.mean(vals)) if vals and all(v is not None for v in vals) else None

        return cls(*(mean(f) for f in COST_FIELDS))

    def to_json(self) -> dict:
        return asdict(self)


def greedy_answer(record: dict, confidence: float, raw: float, extra_forward_passes: int = 0) -> dict:
    """The common answer record of a method that scores the base model's greedy answer (ud.baselines.greedy)."""
    return {"set": record.get("set"), "qid": record["qid"], "answer_key": record["answer_key"],
            "correct": bool(record["correct"]), "confidence": float(confidence), "raw": float(raw), "bin": None,
            "samples": 1, "generated_tokens": record["n_tokens"], "extra_forward_passes": extra_forward_passes}


def auroc(scores, correct) -> float | None:
    """sklearn's AUROC (ties count half); None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(correct, dtype=int)
    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, np.asarray(scores, dtype=float)))


def _percentile_bootstrap(stat, n: int, n_boot: int, seed: int) -> list[float] | None:
    """95% percentile interval of stat(indices) over n_boot resamples of n questions (a resample where the statistic
    is undefined, e.g. one class only, is skipped); None when none is defined."""
    rng = np.random.default_rng(seed)
    vals = [v for v in (stat(rng.integers(0, n, n)) for _ in range(n_boot)) if v is not None]
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))] if vals else None


def auroc_ci(scores, correct, n_boot: int = 1000, seed: int = 0) -> list[float] | None:
    """95% percentile bootstrap interval of the AUROC."""
    s, y = np.asarray(scores, dtype=float), np.asarray(correct, dtype=int)
    if len(set(y.tolist())) < 2:
        return None
    return _percentile_bootstrap(lambda i: auroc(s[i], y[i]), len(y), n_boot, seed)


def paired_auroc(a: tuple, b: tuple, n_boot: int = 1000, seed: int = 0) -> dict | None:
    """AUROC(a) - AUROC(b) on the same questions, with a paired 95% percentile bootstrap: every resample draws one
    set of questions for both methods. a, b: (scores, correct) aligned by question (each method is graded on its
    own answer). None when either method has a single class."""
    sa, ya = np.asarray(a[0], dtype=float), np.asarray(a[1], dtype=int)
    sb, yb = np.asarray(b[0], dtype=float), np.asarray(b[1], dtype=int)
    if len(ya) != len(yb):
        raise ValueError(f"paired_auroc: {len(ya)} vs {len(yb)} questions (pair them by question first)")
    da, db = auroc(sa, ya), auroc(sb, yb)
    if da is None or db is None:
        return None

    def delta(i):
        x, y = auroc(sa[i], ya[i]), auroc(sb[i], yb[i])
        return None if x is None or y is None else x - y

    return {"delta": da - db, "ci": _percentile_bootstrap(delta, len(ya), n_boot, seed), "n": int(len(ya))}


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
              answer_invalid: int = 0, confidence_invalid: int = 0, cost: Cost | dict | None = None,
              extra: dict | None = None) -> tuple[dict, list[dict]]:
    """Metrics dict and reliability rows; `values[b]` is what bin b stands for (its midpoint, for every method).
    An unreadable confidence (bin None) ranks lowest in the AUROC and the high-% (a method that cannot state its
    confidence gets no credit for it), but it stands for no probability, so ECE, Brier and the reliability rows
    leave it out; `confidence_invalid_rate` says how many that is."""
    y = np.asarray([bool(c) for c in correct], dtype=int)
    n = len(y)
    b = np.asarray([0 if i is None else int(i) for i in bin_idx], dtype=int)
    readable = np.asarray([i is not None for i in bin_idx], dtype=bool)
    yr, br = y[readable], b[readable]
    conf = np.asarray([values[i] for i in br], dtype=float)
    high = np.isin(b, high_bins) & readable
    out = {
        "method": method,
        "n": n,
        "auroc": auroc(b, y),
        "auroc_ci": auroc_ci(b, y),
        "accuracy": float(y.mean()) if n else None,
        "high_acc": float(y[high].mean()) if high.any() else None,
        "high_pct": float(100 * high.mean()) if n else None,
        "ece": discrete_ece(br, values, yr) if len(yr) else None,
        "brier": float(np.mean((conf - yr) ** 2)) if len(yr) else None,
        "invalid_rate": answer_invalid / n if n else None,
        "confidence_invalid_rate": confidence_invalid / n if n else None,
        "cost": cost.to_json() if isinstance(cost, Cost) else cost or {},
    }
    if extra:
        out.update(extra)
    return out, reliability(br, yr, labels, values)


def _auroc_of(records: list[dict], field: str) -> dict:
    """AUROC (+CI) of a per-record score; None (unreadable) counts as 0, the lowest bin or probability, as in
    summarize."""
    scores = [0.0 if r.get(field) is None else float(r[field]) for r in records]
    y = [bool(r["correct"]) for r in records]
    return {f"auroc_{field}": auroc(scores, y), f"auroc_{field}_ci": auroc_ci(scores, y)}


def score_verbal(method: str, records: list[dict], binner) -> tuple[dict, list[dict]]:
    """Metrics of a method that states a bin (the distilled model, prompting, the teacher through the binner). Where
    the records carry them: `auroc_raw` (the continuous score: the distilled model's expected confidence under its
    label distribution, the teacher's top-answer probability) and the binned AUROC under both label rules
    (`auroc_bin_argmax`, `auroc_bin_expected`)."""
    extra = {}
    for field in ("raw", "bin_argmax", "bin_expected"):
        if records and any(r.get(field) is not None for r in records):
            extra.update(_auroc_of(records, field))
    probs = [(r["confidence"] if r.get("confidence") is not None else r.get("raw"), r["correct"]) for r in records]
    probs = [(p, c) for p, c in probs if p is not None]
    if probs:  # the continuous probability before binning: calibrated (teacher) or expected (distilled model)
        extra["ece_continuous"] = ece([p for p, _ in probs], [c for _, c in probs])
    return summarize(method, [r["correct"] for r in records], [r["bin"] for r in records], binner.labels,
                     binner.midpoints, binner.high_bins(), answer_invalid=sum(r["answer_key"] is None for r in records),
                     confidence_invalid=sum(r["bin"] is None for r in records), cost=Cost.of(records),
                     extra=extra or None)


def binned_score(record: dict, binner) -> int:
    """The score a method's AUROC ranks by: the bin it stated, or the bin of its probability under `binner`; an
    unreadable confidence counts as the lowest bin (as in summarize)."""
    if record.get("bin") is not None:
        return int(record["bin"])
    if record.get("confidence") is None:
        return 0
    return int(binner.index([record["confidence"]])[0])


def score_probabilities(method: str, records: list[dict], binner) -> tuple[dict, list[dict]]:
    """Metrics of a method with a continuous confidence: its probabilities go into the bins of `binner` (the one
    rule every method is binned by, paper §4.3), so AUROC compares like with like with the verbal methods; the raw
    score's AUROC too."""
    probs = [r["confidence"] for r in records]
    raw, correct = [r["raw"] for r in records], [bool(r["correct"]) for r in records]
    extra = {"auroc_raw": auroc(raw, correct), "auroc_raw_ci": auroc_ci(raw, correct),
             "ece_continuous": ece(probs, correct) if records else None}
    return summarize(method, correct, [int(i) for i in binner.index(probs)], binner.labels, binner.midpoints,
                     binner.high_bins(), answer_invalid=sum(r["answer_key"] is None for r in records),
                     cost=Cost.of(records), extra=extra)


def paired(records: dict[str, list[dict]], binners: dict, split: str, *, continuous: tuple[str, ...],
           reference: str = "ud") -> dict:
    """{method: AUROC(reference) - AUROC(method), 95% paired-bootstrap CI, n}, each method's binned score, on the
    questions of `split` both answered (semantic clustering at its default K). binners: the metrics stage's (one per
    verbal method, "continuous" for the methods named in `continuous`, "semantic_k")."""
    def by_question(method):
        recs = [r for r in records[method] if r["set"] == split
                and (method != "semantic" or r["k"] == binners["semantic_k"])]
        binner = binners["continuous"] if method in continuous else binners[method]
        return {r["qid"]: (binned_score(r, binner), bool(r["correct"])) for r in recs}

    ref = by_question(reference)
    out = {}
    for method in records:
        if method == reference:
            continue
        other = by_question(method)
        qids = [q for q in ref if q in other]
        result = paired_auroc(([ref[q][0] for q in qids], [ref[q][1] for q in qids]),
                              ([other[q][0] for q in qids], [other[q][1] for q in qids]))
        if result is not None:
            out[method] = result
    return out
