"""Stage annotate."""

from __future__ import annotations

from collections import defaultdict

from ud import io
from ud.pipeline.paths import BINNER, CALIBRATOR, METRICS, SFT_FILE, labels_param, answers_file, questions, samples_file


def run(p: dict) -> dict:
    from ud.annotate import build_examples
    from ud.binning import Binner
    from ud.calibrate import Calibrator, points
    from ud.prompts import Format

    fmt = Format.from_params(p)
    asets = list(io.read_jsonl(answers_file("calibration")))
    cal = Calibrator.from_json(io.read_json(CALIBRATOR))
    f, _ = points(asets)
    pc = cal(f)
    a = p["annotate"]
    binner = (Binner.quantile(p["bins"], pc, labels_param(p)) if a["binning"] == "quantile"
              else Binner.fixed(p["bins"], labels_param(p))).fit_values(pc)
    io.write_json(BINNER, binner.to_json())
    qs = {q["id"]: q for q in questions("calibration")}
    samples: dict[str, list[dict]] = defaultdict(list)
    if fmt.reasoning:
        for rec in io.read_jsonl(samples_file("calibration")):
            samples[rec["qid"]].append(rec)
    tok = None
    if fmt.chat:
        from transformers import AutoTokenizer

        from ud import models

        tok = AutoTokenizer.from_pretrained(models.ensure_local(models.resolve(p["model"]["id"])).load_from)
    ex = build_examples(qs, asets, samples, cal, binner, fmt, p["incorrect"], a["incorrect_pick"], p["seed"], tok)
    io.write_jsonl(SFT_FILE, ex)
    per_bin = {lab: sum(e["label"] == lab for e in ex) for lab in binner.labels}
    m = {"examples": len(ex), "correct": sum(e["correct"] for e in ex), "incorrect": sum(not e["correct"] for e in ex),
         "per_bin": per_bin, "bins": binner.n_bins}
    io.write_json(METRICS / "annotate.json", m)
    print(f"annotate: {m}")
    return m
