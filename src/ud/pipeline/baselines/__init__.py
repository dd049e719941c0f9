"""Baseline stages, one module per method, each with run(p) (the stage `baselines_<method>` depends on its own
module only, so editing one baseline reruns only its stage). `greedy` holds the base model's greedy answers that
lexical, P(True), P(IK) and the domain-shift stage read."""

from __future__ import annotations

import importlib

METHODS = ("prompting", "teacher", "lexical", "pik", "ptrue", "semantic")


def run(method: str, p: dict) -> dict:
    if method not in METHODS:
        raise ValueError(f"unknown baseline {method!r}; known: {list(METHODS)}")
    return importlib.import_module(f"ud.pipeline.baselines.{method}").run(p)
