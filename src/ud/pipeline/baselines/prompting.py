"""Stage baselines_prompting: the base model asked for its confidence in words (Appendix E.1)."""

from __future__ import annotations

from ud.pipeline.paths import questions, write_method


def run(p: dict) -> dict:
    from ud import models
    from ud.backends.hf import HFBackend
    from ud.baselines import prompting

    model, tok, _ = models.load(p["model"]["id"], dtype=p["model"].get("dtype", "float32"))
    b = p["baselines"]["prompting"]
    metrics, rel, preds = prompting.run(HFBackend(model, tok, chat=True), questions("test"), b["max_new_tokens"],
                                        b["batch_size"], p["normalize"]["equivalence"])
    write_method("prompting", metrics, rel, preds)
    return metrics
