"""Samples at inference (ud.sampling.draws): under the exact estimator they are categorical draws from the option
distribution that sample@ computed (one prefill, read from its cache), seeded per sample like decoded draws."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from ud import params
from ud.data.prompts import Format
from ud.engines.base import stable_seed
from ud.engines.hf import HFBackend
from ud.sampling import draws
from ud.sampling.estimators import DrawSetting, exact_record

DEFAULT = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


def _params(**sample):
    raw = copy.deepcopy(DEFAULT)
    raw["sample"].update(sample)
    return params.validate(raw)


def test_draws_from_exact_follow_its_probabilities_and_seeds():
    rec = {"qid": "q7", "probs": [0.1, 0.6, 0.3], "texts": [" a", " b", " c"], "n_tokens": [1, 1, 2],
           "logprob_sums": [-2.3, -0.5, -1.2], "logprob_means": [-2.3, -0.5, -0.6]}
    d = draws.from_exact(rec, 4000, seed=3)
    share = np.bincount([[" a", " b", " c"].index(r["text"]) for r in d], minlength=3) / len(d)
    assert np.abs(share - rec["probs"]).max() < 0.03
    assert [r["seed"] for r in d[:3]] == [stable_seed(3, "q7", k) for k in range(3)]
    assert d == draws.from_exact(rec, 4000, seed=3)  # a seed decides its draw
    assert d[:10] == draws.from_exact(rec, 10, seed=3)  # and does not depend on how many are drawn
    first_c = next(r for r in d if r["text"] == " c")
    assert (first_c["n_tokens"], first_c["logprob_mean"], first_c["finish"]) == (2, -0.6, "stop")


def test_exact_samples_come_from_the_cached_prefill(tiny, questions, tmp_path):
    model, tok = tiny
    backend = HFBackend(model, tok)
    p = _params(estimator="exact", chunk=2)
    fmt = Format.from_params(p.prompt)
    qs = questions[:3]
    by_q, per_sample = draws.samples(backend, fmt, qs, 20, tmp_path, DrawSetting(p.model, p.prompt, p.sample, p.seed, "rev"))
    assert per_sample is not None and per_sample > 0
    for q in qs:
        rec = exact_record(backend, fmt, q, fmt.prompt(q, tok))  # what sample@ stores for the question
        assert [r["k"] for r in by_q[q["id"]]] == list(range(20))
        assert all(r["text"] in rec["texts"] for r in by_q[q["id"]])
        assert by_q[q["id"]] == draws.from_exact(rec, 20, p.seed)
    before = backend.stats["forward_tokens"]
    again, _ = draws.samples(backend, fmt, qs, 20, tmp_path, DrawSetting(p.model, p.prompt, p.sample, p.seed, "rev"))
    assert again == by_q
    assert backend.stats["forward_tokens"] == before  # the second call read the unit cache: no forward pass


def test_sampling_estimators_keep_decoding(tiny, questions, tmp_path):
    model, tok = tiny
    backend = HFBackend(model, tok)
    p = _params(estimator="choices", chunk=2, block=5)
    fmt = Format.from_params(p.prompt)
    by_q, _ = draws.samples(backend, fmt, questions[:2], 5, tmp_path, DrawSetting(p.model, p.prompt, p.sample, p.seed, "rev"))
    assert all(len(rs) == 5 for rs in by_q.values())
    assert backend.stats["generated_tokens"] > 0  # decoded, not drawn from probabilities
    seconds, tokens = draws.timed(backend, fmt, questions[:2], 5, replace(DrawSetting(p.model, p.prompt, p.sample, p.seed), seed=p.seed + 1))
    assert seconds > 0 and tokens >= 1


def test_timed_exact_costs_one_prefill_per_question(tiny, questions):
    """draws.timed under `exact`: the k draws of a question come from its one exact record (no decoding), so the
    tokens per sample are the mean length of the options drawn."""
    model, tok = tiny
    backend = HFBackend(model, tok)
    p = _params(estimator="exact", chunk=2)
    fmt = Format.from_params(p.prompt)
    qs = questions[:3]
    seconds, tokens = draws.timed(backend, fmt, qs, 7, DrawSetting(p.model, p.prompt, p.sample, p.seed))
    want = [d["n_tokens"] for q in qs for d in draws.from_exact(exact_record(backend, fmt, q, fmt.prompt(q, tok)), 7,
                                                                 p.seed)]
    assert seconds > 0 and tokens == sum(want) / len(want)
    assert backend.stats["generated_tokens"] == 0
