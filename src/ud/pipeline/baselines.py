"""Stage baselines."""

from __future__ import annotations

from ud import io
from ud.pipeline.paths import BINNER, CALIBRATOR, answers_file, questions, samples_meta, write_method


def prompting(p: dict) -> dict:
    from ud import models
    from ud.backends.hf import HFBackend
    from ud.baselines import prompting

    model, tok, _ = models.load(p["model"]["id"], dtype=p["model"].get("dtype", "float32"))
    b = p["baselines"]["prompting"]
    metrics, rel, preds = prompting.run(HFBackend(model, tok, chat=True), questions("test"), b["max_new_tokens"],
                                        b["batch_size"])
    write_method("prompting", metrics, rel, preds)
    return metrics


def teacher(p: dict) -> dict:
    from ud.baselines import teacher
    from ud.binning import Binner
    from ud.calibrate import Calibrator

    asets = list(io.read_jsonl(answers_file("test")))
    meta = io.read_json(samples_meta("test"))
    n = len(asets) or 1
    cost = {"samples_per_answer": meta["n"] if meta["estimator"] != "exact" else 1,
            "forward_passes_per_answer": meta["generated_tokens"] / n,
            "generated_tokens_per_answer": meta["generated_tokens"] / n if meta["estimator"] != "exact" else 0,
            "seconds_per_answer": meta["wall_seconds"] / n, "estimator": meta["estimator"]}
    metrics, rel = teacher.run(asets, Calibrator.from_json(io.read_json(CALIBRATOR)),
                               Binner.from_json(io.read_json(BINNER)), cost)
    write_method("teacher", metrics, rel)
    return metrics
