"""Load and validate params.yaml.

Every stage validates the whole file before doing any work (it is cheap), so `bins: 1` stops `dvc repro`
at its first stage rather than after an hour of sampling. Messages name the key, the value and what is allowed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ud.errors import ParamError

ESTIMATORS = ("free", "choices", "exact")
TEMPLATES = ("qa", "qa_choices", "reasoning", "open")
ANSWER_FORMS = ("text", "letter")
CALIBRATORS = ("isotonic", "platt", "none")
BINNINGS = ("fixed", "quantile")
TRAIN_METHODS = ("lora", "full")
SOURCES = ("olmo", "jsonl", "hub")
SPLITS = ("calibration", "validation", "test")


def _get(p: dict, dotted: str) -> Any:
    cur: Any = p
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise ParamError(f"params: missing key {dotted!r}")
        cur = cur[part]
    return cur


def _int(p, key, lo=None, hi=None, hi_name=None) -> int:
    v = _get(p, key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ParamError(f"{key}={v!r}: expected an integer")
    if lo is not None and v < lo:
        raise ParamError(f"{key}={v}: must be >= {lo}")
    if hi is not None and v > hi:
        raise ParamError(f"{key}={v}: must be <= {hi_name or hi}")
    return v


def _float(p, key, lo=None, hi=None, lo_open=False) -> float:
    v = _get(p, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ParamError(f"{key}={v!r}: expected a number")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ParamError(f"{key}={v}: must be {'>' if lo_open else '>='} {lo}")
    if hi is not None and v > hi:
        raise ParamError(f"{key}={v}: must be <= {hi}")
    return float(v)


def _choice(p, key, allowed) -> str:
    v = _get(p, key)
    if v not in allowed:
        raise ParamError(f"{key}={v!r}: expected one of {list(allowed)}")
    return v


def validate(p: dict) -> dict:
    """Check every key the stages read; return p unchanged."""
    bins = _int(p, "bins", lo=2)
    _int(p, "incorrect", lo=0)
    _int(p, "seed", lo=0)
    est = _choice(p, "sample.estimator", ESTIMATORS)
    n_drawn = _int(p, "sample.n", lo=1)
    if est != "exact":
        _int(p, "n", lo=1, hi=n_drawn, hi_name=f"sample.n ({n_drawn}), the number of samples drawn; "
             "raise sample.n to draw more")
    else:
        _int(p, "n", lo=1)
    _float(p, "sample.temperature", lo=0.0, lo_open=True)
    _float(p, "sample.top_p", lo=0.0, hi=1.0, lo_open=True)
    _int(p, "sample.max_new_tokens", lo=1)
    _int(p, "sample.chunk", lo=1)
    _int(p, "sample.block", lo=1)
    if not isinstance(_get(p, "sample.adaptive.enabled"), bool):
        raise ParamError(f"sample.adaptive.enabled={_get(p, 'sample.adaptive.enabled')!r}: expected true or false")
    _int(p, "sample.adaptive.bins", lo=2)
    _float(p, "sample.adaptive.z", lo=0.0, lo_open=True)
    _int(p, "sample.adaptive.min_n", lo=1)
    cal = _get(p, "sample.adaptive.calibrator")
    if cal is not None and not isinstance(cal, str):
        raise ParamError(f"sample.adaptive.calibrator={cal!r}: expected null or the path of a calibrator JSON")

    _choice(p, "model.backend", ("hf", "vllm"))
    _choice(p, "data.source", SOURCES)
    if not isinstance(_get(p, "data.dataset"), str):
        raise ParamError(f"data.dataset={_get(p, 'data.dataset')!r}: expected a name, path or hub id")
    for split in SPLITS:
        _int(p, f"prepare.{split}.size", lo=1 if split != "validation" else 0)
        if not isinstance(_get(p, f"prepare.{split}.from"), str):
            raise ParamError(f"prepare.{split}.from: expected a split name of the source (train/validation/test)")

    template = _choice(p, "prompt.template", TEMPLATES)
    _choice(p, "prompt.answer", ANSWER_FORMS)
    if template == "qa" and _get(p, "prompt.answer") == "letter":
        raise ParamError("prompt.answer='letter' needs the options in the prompt: use prompt.template "
                         "'qa_choices' or 'reasoning'")
    if est == "exact" and template == "reasoning" and _get(p, "prompt.reasoning"):
        raise ParamError("sample.estimator='exact' scores the answer directly: set prompt.reasoning=false")
    if not isinstance(_get(p, "prompt.reasoning"), bool):
        raise ParamError(f"prompt.reasoning={_get(p, 'prompt.reasoning')!r}: expected true or false")

    eq = _get(p, "normalize.equivalence")
    from ud.equivalence import KEYS

    if not isinstance(eq, list) or not eq or any(e not in KEYS for e in eq):
        raise ParamError(f"normalize.equivalence={eq!r}: expected a non-empty list of {sorted(KEYS)}")
    if _get(p, "normalize.cluster") not in (None, "nli", "judge"):
        raise ParamError(f"normalize.cluster={_get(p, 'normalize.cluster')!r}: expected null, nli or judge")
    _choice(p, "normalize.nli.rule", ("no_contradiction", "entailment"))
    _int(p, "normalize.nli.batch_size", lo=1)
    _int(p, "normalize.judge.max_new_tokens", lo=1)
    _float(p, "normalize.prefilter.threshold", lo=-1.0, hi=1.0)
    _choice(p, "calibrate.method", CALIBRATORS)
    _int(p, "calibrate.ece_bins", lo=1)
    _choice(p, "annotate.binning", BINNINGS)
    labels = _get(p, "annotate.labels")
    if labels is not None:
        if not isinstance(labels, list) or len(labels) != bins or not all(isinstance(x, str) and x for x in labels):
            raise ParamError(f"annotate.labels={labels!r}: expected null or a list of {bins} non-empty strings "
                             f"(one per bin, bins={bins})")
        if len(set(labels)) != bins:
            raise ParamError(f"annotate.labels={labels!r}: labels must be distinct")
    _choice(p, "annotate.incorrect_pick", ("top", "random"))

    _choice(p, "train.method", TRAIN_METHODS)
    _float(p, "train.epochs", lo=0.0, lo_open=True)
    _float(p, "train.lr", lo=0.0, lo_open=True)
    _int(p, "train.batch_size", lo=1)
    _int(p, "train.grad_accum", lo=1)
    _int(p, "train.max_length", lo=8)
    if _get(p, "train.method") == "lora":
        _int(p, "train.lora.r", lo=1)
        _float(p, "train.lora.alpha", lo=0.0, lo_open=True)
        _float(p, "train.lora.dropout", lo=0.0, hi=1.0)

    if not isinstance(_get(p, "evaluate.constrain"), bool):
        raise ParamError("evaluate.constrain: expected true or false")
    _int(p, "evaluate.max_new_tokens", lo=1)
    _int(p, "evaluate.batch_size", lo=1)
    _int(p, "baselines.prompting.max_new_tokens", lo=1)
    _int(p, "baselines.prompting.batch_size", lo=1)
    if not isinstance(_get(p, "baselines.greedy.constrain"), bool):
        raise ParamError("baselines.greedy.constrain: expected true or false")
    _int(p, "baselines.greedy.max_new_tokens", lo=1)
    _int(p, "baselines.greedy.batch_size", lo=1)
    _int(p, "baselines.greedy.layer")
    _int(p, "baselines.ptrue.shots", lo=0)
    if _get(p, "baselines.pik.C") != "cv":
        _float(p, "baselines.pik.C", lo=0.0, lo_open=True)
    ks = _get(p, "baselines.semantic.k")
    if not isinstance(ks, list) or not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1
                                                     for k in ks):
        raise ParamError(f"baselines.semantic.k={ks!r}: expected a list of sample counts >= 1")
    if _int(p, "baselines.semantic.default_k", lo=1) not in ks:
        raise ParamError(f"baselines.semantic.default_k={_get(p, 'baselines.semantic.default_k')}: must be one of "
                         f"baselines.semantic.k {ks}")
    _int(p, "baselines.semantic.timing_questions", lo=1)
    _choice(p, "shift.source", SOURCES)
    ds = _get(p, "shift.datasets")
    if not isinstance(ds, list) or not all(isinstance(d, str) and d for d in ds):
        raise ParamError(f"shift.datasets={ds!r}: expected a list of dataset names (may be empty)")
    if not isinstance(_get(p, "shift.split"), str):
        raise ParamError("shift.split: expected a split name (train/validation/test)")
    _int(p, "shift.size", lo=1)
    return p


def load(path: str | os.PathLike = "params.yaml", check_model: bool = False) -> dict:
    path = Path(path)
    if not path.exists():
        raise ParamError(f"{path} not found: run stages from the repository root")
    with open(path, encoding="utf-8") as fh:
        p = yaml.safe_load(fh) or {}
    validate(p)
    if check_model:
        from ud import models

        models.resolve(p["model"]["id"])
    return p
