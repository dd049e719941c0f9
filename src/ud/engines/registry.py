"""The one constructor of engines: `build_backend(model params section)` picks the engine that model.backend names
(hf, vllm, openai) and builds it; `driver_tokens` gives a Ray driver the same choice and tokenization without an
engine. Each engine is imported only when chosen, so importing this module costs nothing."""

from __future__ import annotations

from ud.errors import UDError

ENGINES = ("hf", "vllm", "openai")


def engine_for(model, *, scoring: bool) -> str:
    """The engine a stage runs: model.backend, or hf where the stage needs logits or hidden states."""
    if model.backend not in ENGINES:
        raise UDError(f"model.backend={model.backend!r}: expected one of {', '.join(ENGINES)}")
    return "hf" if scoring else model.backend


def driver_tokens(model, *, chat: bool, scoring: bool):
    """(engine name, ud.engines.base.Tokens, model ref) for a process that hands out work to engines elsewhere (Ray
    workers): what prompts, tries and the draw's definition need, without loading an engine there (on a GPU head
    node it would take a worker's GPU)."""
    from transformers import AutoTokenizer

    from ud.engines import models
    from ud.engines.base import Tokens

    engine = engine_for(model, scoring=scoring)
    if engine == "openai":
        raise UDError("sample.workers > 1 spreads local engines over Ray workers; an OpenAI-compatible server "
                      "batches requests itself: use sample.workers: 1 with model.backend: openai")
    ref = models.ensure_local(models.resolve(model.id))
    return engine, Tokens(AutoTokenizer.from_pretrained(ref.load_from), chat), ref


def build_backend(model, *, chat: bool | None, trained: str | None = None, scoring: bool = False):
    """(backend, model ref) for the `model` params section (id, dtype, backend).

    trained: a folder written by the train stage; its LoRA adapter is applied to the base (merged for hf, per
             request for vllm), or, for full fine-tuning, the folder is the model.
    scoring: the caller needs logits or hidden states, which only the hf engine gives."""
    from ud.engines import models

    info = models.trained_info(trained) if trained else None
    lora = info is not None and info["method"] == "lora"
    model_id = model.id if info is None else info["base"] if lora else trained  # an adapter knows its base
    engine = engine_for(model, scoring=scoring)
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
