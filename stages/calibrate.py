"""Stage calibrate: fit f -> p on the calibration answers -> models/calibrator.json, metrics/calibration.json
(ECE before/after, Appendix G) and the calibration data's reliability plot."""

from ud import io, paths, stage
from ud.method.calibrate import Calibrator, cross_fitted, points
from ud.metrics.scores import auroc, ece
from ud.records import ANSWER_SETS


def main(p):
    asets = ANSWER_SETS.read(paths.answers_file("calibration"))
    f, y = points(asets)
    cal = Calibrator(p.calibrate.method).fit(f, y)
    io.write_json(paths.CALIBRATOR, cal.to_json())
    pc = cal(f)
    nb = p.calibrate.ece_bins
    top = [a["classes"][0] for a in asets if a["classes"]]
    m = {"method": cal.method, "points": len(f), "positives": int(y.sum()), "ece_bins": nb, "ece_before": ece(f, y, nb),
         "ece_after": ece(pc, y, nb), "ece_after_cv": ece(cross_fitted(cal.method, f, y, seed=p.seed), y, nb),
         "top_accuracy": sum(c["correct"] for c in top) / len(top) if top else None,
         "top_auroc": auroc([c["f"] for c in top], [c["correct"] for c in top])}
    io.write_json(paths.METRICS / "calibration.json", m)
    rows = []  # reliability of the calibration data before/after, 10 equal-width bins
    for name, conf in (("raw f", f), ("calibrated", pc)):
        for b in range(10):
            lo, hi = b / 10, (b + 1) / 10
            mask = (conf >= lo) & ((conf < hi) if b < 9 else (conf <= hi))
            if mask.any():
                rows.append({"series": name, "bin": round(lo + 0.05, 2), "count": int(mask.sum()),
                             "accuracy": float(y[mask].mean()), "mean_confidence": float(conf[mask].mean())})
    io.write_json(paths.PLOTS / "calibration_reliability.json", rows)
    print(f"calibrate: {m}")


if __name__ == "__main__":
    stage.run(main)
