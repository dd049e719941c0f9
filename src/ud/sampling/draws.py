"""The one door every draw goes through: `draw` cuts questions x sample indices into units, serves what the cache
holds, computes the rest (in this process or on a pool of workers) and commits each unit as it finishes. The
sample stage, the samples drawn at inference (`samples`: semantic clustering's K, P(True)'s brainstormed ideas) and
multi-claim sampling all call it; only what a unit computes differs (ud.sampling.estimators.unit_drawer, or the
claims sampler).

At inference, sampling estimators (free, choices) draw them through the unit cache under the split's sampling
definition, so on the test split the first sample.n are sample@test's own. For `exact`, whose answers are the listed
options, a sample is a categorical draw from the question's exact option distribution -- the distribution `choices` samples
from (exact is its N -> infinity limit at the same temperature) -- so K samples cost the one prefill that computes
it, not K decoded rows: the exact records come through the same unit cache (on the test split, sample@test's own),
and draw k of question q uses its own seed, stable_seed(seed, q, k), as a decoded draw would.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ud.data.prompts import Format
from ud.engines.base import Backend, stable_seed
from ud.records import Question, Sample, by_question
from ud.sampling.estimators import DrawSetting, draw_unit, unit_drawer
from ud.sampling.units import (
    AdaptiveStop,
    ChunkStore,
    SampleRun,
    definition,
    definition_hash,
    import_previous,
    run_units,
)


def draw(questions: list[dict], prompts: list[str], n: int, cache: Path, spec: dict, *, chunk: int, block: int,
         numerics: dict, compute=None, pool=None, per_question: bool = False, answer_of=None,
         adaptive: AdaptiveStop | None = None, progress=None, previous: tuple[Path, Path] | None = None) -> SampleRun:
    """Samples k < n of every question (one record per question when per_question), through the unit cache
    cache/<hash of spec>/: `spec` is everything that defines a draw except n (ud.sampling.units.definition for the
    pipeline's draws), so settings never share a folder. compute(questions, ks) -> records runs in this process;
    pool (ray_pool.RayPool, ray_llm.RayDataLLMPool) runs units elsewhere. previous: (records file, meta file) of an
    earlier final file drawn under the same spec, imported into an empty cache (a pulled `data/samples/`).
    numerics: what the engine computes with (Engine.numerics, or the pool's); units computed otherwise are refused."""
    key = definition_hash(spec)
    store = ChunkStore(Path(cache) / key, spec, numerics)
    if previous is not None:
        import_previous(store, previous[0], previous[1], key, questions, prompts, chunk, block, per_question)
    return run_units(questions, prompts, n, chunk, block, store, compute, per_question=per_question,
                     answer_of=answer_of, adaptive=adaptive, progress=progress, pool=pool)


def from_exact(record: dict, k: int, seed: int) -> list[dict]:
    """k sample records (the fields of a decoded draw) drawn from an exact record's option probabilities."""
    probs = np.asarray(record["probs"], dtype=np.float64)
    cdf = np.cumsum(probs)
    out = []
    for j in range(k):
        s = stable_seed(seed, record["qid"], j)
        i = min(int(np.searchsorted(cdf, np.random.default_rng(s).random() * cdf[-1], side="right")), len(probs) - 1)
        out.append({"qid": record["qid"], "k": j, "seed": s, "text": record["texts"][i],
                    "n_tokens": record["n_tokens"][i], "logprob_sum": record["logprob_sums"][i],
                    "logprob_mean": record["logprob_means"][i], "finish": "stop"})
    return out


def samples(backend: Backend, fmt: Format, questions: list[Question], k: int, cache: Path, setting: DrawSetting,
            progress=None, raw: bool = False) -> tuple[dict[str, list[Sample]], float | None]:
    """k samples per question under the run's draw setting, through the unit cache folder `cache`
    (data/cache/samples/<set>). Returns (samples by question id, compute seconds per sample, None when unknown).
    With the exact estimator `backend` must score (build_backend(..., scoring=True)). raw: the records as drawn, for
    answer sets (exact: each question's one record, not k draws from it; a sampler: its first k)."""
    s = setting.sample
    exact = s.estimator == "exact"
    spec = definition(setting, backend.name, adaptive=False)
    run = draw(questions, [fmt.prompt(q, backend.tok) for q in questions], 1 if exact else k, Path(cache), spec,
               chunk=s.chunk, block=s.block, numerics=backend.numerics(), compute=unit_drawer(setting, backend),
               per_question=exact, progress=progress)
    if raw:
        by_q = by_question([r for r in run.records if exact or r["k"] < k])  # units are whole blocks
        drawn = len(questions) * (1 if exact else -(-k // s.block) * s.block)
    elif exact:
        by_q = {r["qid"]: from_exact(r, k, setting.seed) for r in run.records}
        drawn = len(questions) * k
    else:
        by_q = by_question(run.records)
        drawn = len(questions) * -(-k // s.block) * s.block  # units are whole blocks
    per_sample = run.compute_seconds / drawn if run.compute_seconds is not None and drawn else None
    return by_q, per_sample


def timed(backend: Backend, fmt: Format, questions: list[Question], k: int,
          setting: DrawSetting) -> tuple[float, float]:
    """(seconds, generated tokens) per sample for k fresh samples of each question, without the cache: the cost an
    answer pays at inference."""
    s, seed = setting.sample, setting.seed
    t0 = time.perf_counter()
    drawn = []
    for i in range(0, len(questions), s.chunk):
        batch = questions[i:i + s.chunk]
        exact = s.estimator == "exact"  # one record per question: its k draws come from the option distribution
        records = draw_unit(backend, fmt, batch, [0] if exact else list(range(k)), s.estimator, seed, s.temperature,
                            s.top_p, s.max_new_tokens, s.exact_score)
        drawn += [d for r in records for d in from_exact(r, k, seed)] if exact else records
    n = max(1, len(questions) * k)
    return (time.perf_counter() - t0) / n, sum(r["n_tokens"] for r in drawn) / n
