"""Stage evaluate."""

from __future__ import annotations

from ud import io
from ud.pipeline.paths import BINNER, UD_MODEL, questions, write_method


def run(p: dict) -> dict:
    from ud.binning import Binner
    from ud.evaluate import predict, score
    from ud.prompts import Format
    from ud.train import load_trained

    fmt = Format.from_params(p)
    binner = Binner.from_json(io.read_json(BINNER))
    if p["model"].get("backend", "hf") == "vllm":  # the LoRA adapter per request, or the fully tuned model
        from ud.backends import make

        meta = io.read_json(UD_MODEL / "ud_model.json")
        lora = meta["method"] == "lora"
        backend, _ = make("vllm", meta["base"] if lora else str(UD_MODEL), chat=fmt.chat,
                          adapter=str(UD_MODEL) if lora else None)
    else:
        from ud.backends.hf import HFBackend

        model, tok, _ = load_trained(str(UD_MODEL))
        backend = HFBackend(model, tok, chat=fmt.chat)
    e = p["evaluate"]
    preds = predict(backend, fmt, questions("test"), binner.labels, ud=True, constrain=e["constrain"],
                    max_new_tokens=e["max_new_tokens"], batch_size=e["batch_size"], desc="evaluate ud",
                    equivalence=p["normalize"]["equivalence"])
    metrics, rel = score("ud", preds, binner)
    write_method("ud", metrics, rel, preds)
    return metrics
