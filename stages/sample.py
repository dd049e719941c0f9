"""Stage sample: the estimator's draws for one split -> data/samples/<split>.jsonl.gz (+ .meta.json).

Work goes through the resumable unit cache in data/cache/samples/<split>/<definition hash>/ (ud.sampling.draws): a killed
run resumes, a larger sample.n tops up, and the final file is assembled from it. The final file is a persistent DVC
output: when the cache is missing (a fresh clone after `dvc pull`), the cache is seeded from it.
Usage: python stages/sample.py {calibration|test}
"""

import sys
import time
from dataclasses import replace
from functools import partial

from tqdm import tqdm

from ud import io, paths, stage, timings
from ud.data.prompts import Format
from ud.engines.registry import build_backend, driver_tokens, sampling_scores
from ud.errors import DataError
from ud.method.normalize import grade
from ud.records import SAMPLES
from ud.sampling.draws import draw
from ud.sampling.estimators import DrawSetting, unit_drawer
from ud.sampling.units import AdaptiveStop, definition, definition_hash


def adaptive_rule(a) -> AdaptiveStop:
    from ud.method.calibrate import Calibrator

    cal = Calibrator.from_json(io.read_json(a.calibrator)) if a.calibrator else None
    return AdaptiveStop(bins=a.bins, z=a.z, min_n=a.min_n, calibrator=cal)


def main(p, split: str):
    s = p.sample
    qs = paths.questions(split)
    open_q = [q["id"] for q in qs if not q.get("choices")]
    if open_q and s.estimator != "free":
        raise DataError(f"sample.estimator={s.estimator!r} needs answer options, but {len(open_q)} questions are "
                        f"open-answer (e.g. {open_q[0]}): use sample.estimator='free'")
    fmt = Format.from_params(p.prompt)
    exact = s.estimator == "exact"
    scoring = sampling_scores(p.model, s.estimator)
    n = 1 if exact else s.n
    setting = DrawSetting(p.model, p.prompt, p.sample, p.seed)
    if s.workers > 1:  # the engines live in the Ray workers; this process needs only the tokenizer
        from ud.sampling.ray_pool import RayPool

        engine, tokens, ref = driver_tokens(p.model, chat=fmt.chat, scoring=scoring)
        tok = tokens.tok
        device = f"ray ({s.workers} workers)"
        if engine == "vllm":  # vLLM engines as replicas of Ray Data's LLM processor
            from ud.sampling.ray_llm import RayDataLLMPool

            device = f"ray.data.llm ({s.workers} vLLM replicas)"
            work = {"pool": RayDataLLMPool(ref.load_from, tok, fmt, estimator=s.estimator, seed=p.seed,
                                           temperature=s.temperature, top_p=s.top_p, max_new_tokens=s.max_new_tokens,
                                           dtype=p.model.dtype, workers=s.workers, threads=s.threads_per_worker,
                                           gpus=s.gpus_per_worker, tensor_parallel=p.model.tensor_parallel)}
        else:
            work = {"pool": RayPool(partial(unit_drawer, setting), s.workers,
                                    s.threads_per_worker, s.gpus_per_worker, engine=engine)}
    else:
        backend, ref = build_backend(p.model, chat=fmt.chat, scoring=scoring)
        if not backend.supports("seeded"):
            raise DataError(f"{backend.device} does not repeat a seeded sample: a resumed or topped-up run would mix "
                            "draws that cannot be redone; use a server that honours `seed` (vllm serve does)")
        engine, tok, device = backend.name, backend.tok, str(backend.device)
        work = {"compute": unit_drawer(setting, backend)}
    numerics = work["pool"].numerics if "pool" in work else backend.numerics()
    spec = definition(replace(setting, revision=ref.revision), engine)
    key = definition_hash(spec)
    prompts = [fmt.prompt(q, tok) for q in qs]
    adaptive = adaptive_rule(s.adaptive) if s.adaptive.enabled and not exact else None
    equivalence = p.normalize.equivalence

    bar = tqdm(total=len(qs), desc=f"sample {split} ({s.estimator}, N={n})", unit="q")
    t0 = time.perf_counter()

    def progress(finished, computed):
        bar.update(finished)
        dt = time.perf_counter() - t0
        bar.set_postfix(new_samples_per_s=f"{computed / dt:.1f}" if dt else "-")

    run = draw(qs, prompts, n, paths.SAMPLE_CACHE / split, spec, chunk=s.chunk, block=s.block, numerics=numerics,
               per_question=exact, answer_of=lambda q, r: grade(r["text"], q, fmt.tagged, equivalence)[0], adaptive=adaptive,
               progress=progress, previous=(paths.samples_file(split), paths.samples_meta(split)), **work)
    bar.close()
    SAMPLES.write(paths.samples_file(split), run.records)
    tokens = sum(r["n_tokens"] if isinstance(r["n_tokens"], int) else sum(r["n_tokens"]) for r in run.records)
    full = len(qs) * n
    meta = {
        "split": split, "questions": len(qs), "estimator": s.estimator, "n": n,
        "samples": run.samples, "adaptive": spec["adaptive"],
        "adaptive_saved_fraction": 1 - run.samples / full if full else 0.0,
        "model": {"id": p.model.id, "load_from": ref.load_from, "kind": ref.kind, "revision": ref.revision,
                  "dtype": p.model.dtype},
        "backend": engine, "workers": s.workers, "versions": io.versions(),
        "prompt": {**p.prompt.model_dump(), "example": prompts[0] if prompts else None},
        "generation": {k: spec["sample"][k] for k in ("temperature", "top_p", "max_new_tokens")}, "seed": p.seed,
        "definition_hash": key, "numerics": numerics, "cache": str(paths.SAMPLE_CACHE / split / key),
        "generated_tokens": tokens,
    }
    io.write_json(paths.samples_meta(split), meta)
    # what this run did (machine, cache hits, seconds) is not part of the result: timings/sample@<split>.json
    run_facts = {
        "questions": len(qs), "device": device, "computed_samples": run.computed, "cached_samples": run.cached,
        "units": {"computed": run.units_computed, "from_cache": run.units_cached, "redone": run.redone},
        "wall_seconds": run.wall,
        # what drawing every sample cost, also when (some) units came from the cache; null when unknown
        "compute_seconds": run.compute_seconds,
        "samples_per_second": run.computed / run.wall if run.wall and run.computed else None,
    }
    timings.write(f"sample@{split}", run_facts)
    rate = f"{run_facts['samples_per_second']:.1f} samples/s" if run_facts["samples_per_second"] else "nothing to compute"
    saved = f", adaptive N saved {meta['adaptive_saved_fraction']:.1%}" if adaptive else ""
    print(f"sample {split}: {len(qs)} questions, {run.samples} samples ({run.computed} computed in "
          f"{run.units_computed} units, {run.cached} from cache in {run.units_cached} units"
          f"{', ' + str(len(run.redone)) + ' redone' if run.redone else ''}) in {run.wall:.0f}s ({rate}){saved}")


if __name__ == "__main__":
    stage.run(main, sys.argv[1])
