"""Stage calibrate."""

from __future__ import annotations

from ud import io
from ud.pipeline.paths import CALIBRATOR, METRICS, PLOTS, answers_file


def run(p: dict) -> dict:
    from ud.calibrate import Calibrator, cross_fitted, points
    from ud.metrics import auroc, ece

    asets = list(io.read_jsonl(answers_file("calibration")))
    f, y = points(asets)
    cal = Calibrator(p["calibrate"]["method"]).fit(f, y)
    io.write_json(CALIBRATOR, cal.to_json())
    pc = cal(f)
    nb = p["calibrate"]["ece_bins"]
    top_f = [a["classes"][0]["f"] for a in asets if a["classes"]]
    top_y = [a["classes"][0]["correct"] for a in asets if a["classes"]]
    m = {"method": cal.method, "points": len(f), "positives": int(y.sum()), "ece_before": ece(f, y, nb),
         "ece_after": ece(pc, y, nb), "ece_after_cv": ece(cross_fitted(cal.method, f, y, seed=p.get("seed", 0)), y, nb), "top_accuracy": sum(top_y) / len(top_y) if top_y else None,
         "top_auroc": auroc(top_f, top_y)}
    io.write_json(METRICS / "calibration.json", m)
    # reliability of the calibration data before/after, 10 equal-width bins
    rows = []
    for name, conf in (("raw f", f), ("calibrated", pc)):
        for b in range(10):
            lo, hi = b / 10, (b + 1) / 10
            mask = (conf >= lo) & ((conf < hi) if b < 9 else (conf <= hi))
            if mask.any():
                rows.append({"series": name, "bin": round(lo + 0.05, 2), "count": int(mask.sum()),
                             "accuracy": float(y[mask].mean()), "mean_confidence": float(conf[mask].mean())})
    io.write_json(PLOTS / "calibration_reliability.json", rows)
    print(f"calibrate: {m}")
    return m
