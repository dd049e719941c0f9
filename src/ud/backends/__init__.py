"""Inference/scoring backends, one per file: hf (transformers, CPU or GPU) and vllm (GPU, optional extra).

Both offer sample(requests, ...) (seeded per sample, shared prefix), generate(prompts, n, ...) and
encode_continuation(text); hf also scores continuations (the `exact` estimator).
"""

from __future__ import annotations

BACKENDS = ("hf", "vllm")


def make(name: str, model_id: str, *, chat: bool, dtype: str = "float32", adapter: str | None = None):
    """(backend, model ref) for `model.backend`; `adapter` is a LoRA folder applied on top of model_id."""
    from ud import models

    if name == "vllm":
        from ud.backends.vllm import VLLMBackend

        ref = models.ensure_local(models.resolve(model_id))
        return VLLMBackend(ref.load_from, chat=chat, dtype="bfloat16" if dtype == "float32" else dtype,
                           adapter=adapter), ref
    from ud.backends.hf import HFBackend

    model, tok, ref = models.load(model_id, dtype=dtype, adapter=adapter)
    return HFBackend(model, tok, chat=chat), ref
