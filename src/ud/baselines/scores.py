"""Shared scoring for baselines with a continuous confidence: probabilities go into fixed-width bins (paper
§4.3), so AUROC compares like with like with the verbal methods; the raw score's AUROC is reported too."""

from __future__ import annotations

from ud.binning import Binner
from ud.metrics import auroc, auroc_ci, ece, summarize


def score_method(method: str, records: list[dict], probs, raw_scores, bins: int, cost: dict):
    binner = Binner.fixed(bins)
    idx = [int(i) for i in binner.index(probs)]
    correct = [bool(r["correct"]) for r in records]
    invalid = sum(r.get("answer_index") is None for r in records)
    extra = {"auroc_raw": auroc(list(raw_scores), correct), "auroc_raw_ci": auroc_ci(list(raw_scores), correct),
             "ece_continuous": ece(list(probs), correct) if records else None}
    metrics, rel = summarize(method, correct, idx, binner.labels, binner.values, binner.high_bins(),
                             answer_invalid=invalid, cost=cost, extra=extra)
    return metrics, rel
