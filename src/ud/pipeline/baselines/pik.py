"""Stage baselines_pik: P(IK), a logistic probe on the greedy answer's hidden state (Kadavath et al.)."""

from __future__ import annotations

from ud import io
from ud.pipeline.baselines import greedy
from ud.pipeline.paths import PIK_PROBE, features_file, write_method


def run(p: dict) -> dict:
    from ud.baselines.pik import Probe
    from ud.baselines.scores import score_method

    cal, test = greedy.load("calibration"), greedy.load("test")
    probe = Probe.fit(greedy.load_features(features_file("calibration")), [r["correct"] for r in cal],
                      c=p["baselines"]["pik"]["C"], seed=p["seed"])
    io.write_json(PIK_PROBE, probe.to_json())
    probs = probe(greedy.load_features(features_file("test")))
    cost = greedy.cost(test, extra_seconds=test[0]["feature_seconds"] if test else 0.0, extra_passes=1)
    metrics, rel = score_method("pik", test, probs, probs, p["bins"], cost)
    metrics["probe"] = {"C": probe.to_json()["C"], "degenerate": probe.to_json()["degenerate"]}
    write_method("pik", metrics, rel)
    return metrics
