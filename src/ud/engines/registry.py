"""The one constructor of engines: `build_backend(model params section)` picks the engine that model.backend names
(hf, vllm, openai) and builds it; `driver_tokens` gives a Ray driver the same choice and tokenization without an
engine. Each engine is imported only when chosen, so importing this module costs nothing."""

from __future__ import annotations

from ud.errors import UDError

ENGINES = ("hf", "vllm", "openai")


def engine_for(model, *, scoring: bool) -> str:
    """The engine a stage runs: model.backend, or hf where the stage needs logits, hidden states or a trie
    (`scoring`). Behind an OpenAI-compatible server, hf runs on model.id here only when model.local_scoring says so:
    the fallback is never silent."""
    if model.backend not in ENGINES:
        raise UDError(f"model.backend={model.backend!r}: expected one of {', '.join(ENGINES)}")
    if not scoring:
        return model.backend
    if model.backend == "openai" and not model.local_scoring:
        raise UDError("model.backend='openai': this stage needs logits, hidden states or decoding constrained to the "
                      "options, which a server does not give: set model.local_scoring: true to run it through hf "
                      "on model.id here")
    return "hf"


def sampling_scores(model, estimator: str) -> bool:
    """Whether drawing samples needs more than text from the engine: exact reads logits; choices walks a trie of the
    options, which vLLM and hf do and an OpenAI-compatible server does not."""
    return estimator == "exact" or (estimator == "choices" and model.backend == "openai")


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
    scoring: the caller needs logits or hidden states, which only the hf engine gives.
    With model.backend openai, the trained model is asked over HTTP under model.served_trained (the server serves
    models/ud under that name, or loads it now: model.load_trained), or else runs through hf here
    (model.local_scoring)."""
    from ud.engines import models

    served = trained is not None and model.backend == "openai" and model.served_trained
    if served and not scoring:
        from ud.engines.openai import from_params

        backend = from_params(model, chat, served_name=model.served_trained)
        if model.load_trained:
            backend.load_adapter(trained)
        return backend, models.ensure_local(models.resolve(model.id))
    engine = engine_for(model, scoring=scoring or (trained is not None and model.backend == "openai"))
    info = models.trained_info(trained) if trained else None
    lora = info is not None and info["method"] == "lora"
    model_id = model.id if info is None else info["base"] if lora else trained  # an adapter knows its base
    if engine == "openai":
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
