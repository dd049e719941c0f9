"""Stage metrics: every method's answer records -> its metrics. Writes metrics/<method>.json (the scored split,
param `scored`: test, or validation while choosing knobs; its `split` field says which),
metrics/shift.json (each domain-shift dataset, the teacher's own included: stages/teacher_shift.py), the reliability
plots, metrics/summary.md and reliability.png.

One binning rule for every method (paper §4.3): models/binner.json, the bins the distilled model was taught
(annotate.binning), bins the teacher's calibrated probability and every baseline's continuous score, so AUROC,
high % and high acc mean the same bins for all. Prompting states one of the five E.1 labels, which are its bins.
metrics/ud.json's `paired` holds the distilled model's AUROC minus each other method's, on the same test
questions, with a paired bootstrap CI."""

from collections import defaultdict

from ud import io, paths, stage
from ud.baselines import teacher
from ud.data.prompts import DEFAULT_LABELS_5
from ud.method.binning import Binner
from ud.metrics import report
from ud.metrics.scores import paired, score_probabilities, score_verbal
from ud.records import ANSWERS

CONTINUOUS = ("lexical", "ptrue", "pik", "semantic")


def method_metrics(method: str, records: list[dict], binners: dict) -> tuple[dict, list[dict]]:
    if method not in CONTINUOUS:
        return score_verbal(method, records, binners[method])
    if method != "semantic":
        return score_probabilities(method, records, binners["continuous"])
    by_k = defaultdict(list)  # semantic clustering: one row per K, the default K in front
    for r in records:
        by_k[r["k"]].append(r)
    scored = {k: score_probabilities(method, rs, binners["continuous"]) for k, rs in sorted(by_k.items())}
    k0 = binners["semantic_k"]
    keys = ("auroc", "auroc_ci", "auroc_raw", "accuracy", "high_acc", "high_pct", "ece", "brier", "invalid_rate",
            "cost")
    metrics = dict(scored[k0][0], k=k0, by_k={str(k): {key: m[key] for key in keys} for k, (m, _) in scored.items()})
    return metrics, scored[k0][1]


def main(p):
    ud_binner = Binner.from_json(io.read_json(paths.BINNER))
    binners = {"ud": ud_binner, "teacher": ud_binner, "prompting": Binner.fixed(5, DEFAULT_LABELS_5),
               "continuous": ud_binner, "semantic_k": p.baselines.semantic.default_k}
    records = {"teacher": teacher.records(p.scored) + teacher.shift_records()}
    records.update({m: ANSWERS.read(paths.eval_file(m)) for m in report.METHODS if m != "teacher"})
    shift, shift_rows = {}, []
    for method in report.METHODS:
        by_set = defaultdict(list)
        for r in records[method]:
            by_set[r["set"]].append(r)
        for name, recs in by_set.items():
            metrics, rel = method_metrics(method, recs, binners)
            if name == p.scored:
                metrics["split"] = p.scored
                if method == "ud":
                    metrics["paired"] = paired(records, binners, p.scored, continuous=CONTINUOUS)
                io.write_json(paths.METRICS / f"{method}.json", metrics)
                io.write_json(paths.PLOTS / f"{method}_reliability.json", rel)
                shown = {k: metrics[k] for k in ("n", "auroc", "accuracy", "high_acc", "high_pct", "ece",
                                                 "invalid_rate")}
                print(f"{method}: {shown}")
            else:  # domain shift: the distilled model against every method run on the same shift questions
                if method == "ud":
                    metrics["paired"] = paired({m: rs for m, rs in records.items()
                                                if any(r["set"] == name for r in rs)}, binners, name,
                                               continuous=CONTINUOUS)
                shift.setdefault(name, {})[method] = dict(metrics, method=f"{method}@{name}", dataset=name)
                shift_rows += [dict(r, method=method, dataset=name) for r in rel]
    io.write_json(paths.METRICS / "shift.json", shift)
    io.write_json(paths.PLOTS / "shift.json", shift_rows)
    print(report.write(paths.METRICS))


if __name__ == "__main__":
    stage.run(main)
