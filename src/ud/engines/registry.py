"""The one constructor of engines: `build_backend(model params section)` picks the engine that model.backend names
(hf, vllm, openai) and builds it. Each engine is imported only when chosen, so importing this module costs nothing."""

from __future__ import annotations

from ud.errors import UDError

ENGINES = ("hf", "vllm", "openai")


def build_backend(model, *, chat: bool, trained: str | None = None, scoring: bool = False):
    """(backend, model ref) for the `model` params section (id, dtype, backend).

    trained: a folder written by the train stage; its LoRA adapter is applied to the base (merged for hf, per
             request for vllm), or, for full fine-tuning, the folder is the model.
    scoring: the caller needs logits or hidden states, which only the hf engine gives."""
    from ud.engines import models

    info = models.trained_info(trained) if trained else None
    lora = info is not None and info["method"] == "lora"
    model_id = model.id if info is None else info["base"] if lora else trained  # an adapter knows its base
    engine = "hf" if scoring else model.backend
    if engine == "openai":
        if trained:
            raise UDError("model.backend='openai' serves a model the server holds: the distilled model (models/ud) "
                          "is evaluated with hf or vllm")
        from ud.engines.openai import from_params

        backend = from_params(model, chat)
        return backend, models.ensure_local(models.resolve(model.id))
    if engine == "vllm":
        from ud.engines.vllm import VLLMBackend

        ref = models.ensure_local(models.resolve(model_id))
        return VLLMBackend(ref.load_from, chat=chat, dtype=model.dtype, adapter=trained if lora else None,
                           tensor_parallel=model.tensor_parallel), ref
    from ud.engines.hf import HFBackend

    return HFBackend.load(model_id, chat=chat, dtype=model.dtype, adapter=trained if lora else None)
