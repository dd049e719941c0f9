"""Inference/scoring backends, one per file: hf (transformers, CPU/GPU). vLLM plugs in beside it."""
