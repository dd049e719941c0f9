"""Stage sample: draw N answers per question through the resumable unit cache (ud.sampling).

The cache lives in data/cache/samples/<split>/<definition hash>/ (git-ignored, not a DVC output, so `dvc repro`
does not delete it): a killed run resumes, a larger sample.n tops up. The final file is assembled from it. The
final file is a persistent DVC output: when the cache is missing (a fresh clone after `dvc pull`), the cache is
seeded from it, so topping up works there too.
"""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from ud import io
from ud.errors import DataError
from ud.pipeline.paths import questions, samples_file, samples_meta

CACHE_DIR = Path("data/cache/samples")


def definition(p: dict, ref, backend_name: str, estimator: str | None = None, adaptive: bool = True) -> dict:
    """Everything that decides what a sample is, except how many are drawn. `estimator` / `adaptive=False`
    override sample.estimator / sample.adaptive (inference-time sampling draws the same samples, never stopping)."""
    s = p["sample"]
    return {
        "model": {"id": p["model"]["id"], "revision": ref.revision, "dtype": p["model"].get("dtype", "float32")},
        "prompt": p["prompt"], "seed": p["seed"], "backend": backend_name,
        "sample": {**{k: s[k] for k in ("temperature", "top_p", "max_new_tokens", "exact_score", "chunk", "block")},
                   "estimator": estimator or s["estimator"]},
        "adaptive": s["adaptive"] if adaptive and s["adaptive"]["enabled"] else None,
    }


def adaptive_rule(a: dict):
    from ud.calibrate import Calibrator
    from ud.sampling import AdaptiveStop

    cal = None
    if a.get("calibrator"):
        cal = Calibrator.from_json(io.read_json(a["calibrator"]))
    return AdaptiveStop(bins=a["bins"], z=a["z"], min_n=a["min_n"], calibrator=cal)


def import_previous(store, split: str, key: str, qs: list[dict], prompts: list[str], chunk: int, block: int,
                    exact: bool) -> int:
    """Seed an empty cache from this stage's previous output (kept by `persist: true`, e.g. pulled from a DVC
    remote) when it was drawn under the same definition, so raising sample.n on another machine tops up instead
    of starting over. Only whole units are imported. Returns the number of units imported."""
    from ud.sampling import prompts_hash

    if store.units() or not samples_file(split).exists() or not samples_meta(split).exists():
        return 0
    meta = io.read_json(samples_meta(split))
    if meta.get("definition_hash") != key or meta.get("adaptive"):
        return 0
    by_q: dict[str, dict[int, dict]] = {}
    for r in io.read_jsonl(samples_file(split)):
        by_q.setdefault(r["qid"], {})[r["k"]] = r
    blocks = 1 if exact else meta["n"] // block
    imported = 0
    for c0 in range(0, len(qs), chunk):
        batch = qs[c0: c0 + chunk]
        for b in range(blocks):
            ks = [0] if exact else range(b * block, (b + 1) * block)
            if not all(k in by_q.get(q["id"], {}) for q in batch for k in ks):
                break
            store.commit(c0 // chunk, b, [by_q[q["id"]][k] for q in batch for k in ks], [q["id"] for q in batch],
                         prompts_hash(prompts[c0: c0 + chunk]))
            imported += 1
    if imported:
        print(f"sample {split}: seeded the cache with {imported} units from the previous {samples_file(split)}")
    return imported


def run(p: dict, split: str) -> dict:
    from ud.backends import make
    from ud.estimators import draw_unit
    from ud.normalize import judge
    from ud.prompts import Format
    from ud.sampling import ChunkStore, definition_hash, run_units

    s = p["sample"]
    qs = questions(split)
    open_q = [q["id"] for q in qs if not q.get("choices")]
    if open_q and s["estimator"] != "free":
        raise DataError(f"sample.estimator={s['estimator']!r} needs answer options, but {len(open_q)} questions are "
                        f"open-answer (e.g. {open_q[0]}): use sample.estimator='free'")
    fmt = Format.from_params(p)
    backend, ref = make(p["model"].get("backend", "hf"), p["model"]["id"], chat=fmt.chat,
                        dtype=p["model"].get("dtype", "float32"))
    tok = backend.tok
    exact = s["estimator"] == "exact"
    n = 1 if exact else s["n"]
    spec = definition(p, ref, backend.name)
    key = definition_hash(spec)
    store = ChunkStore(CACHE_DIR / split / key, spec)
    prompts = [fmt.prompt(q, tok) for q in qs]
    import_previous(store, split, key, qs, prompts, s["chunk"], s["block"], exact)
    adaptive = adaptive_rule(s["adaptive"]) if s["adaptive"]["enabled"] and not exact else None
    require_tags = p["prompt"]["template"] == "reasoning"

    def compute(batch, ks):
        return draw_unit(backend, fmt, batch, ks, s["estimator"], p["seed"], s["temperature"], s["top_p"],
                         s["max_new_tokens"], s["exact_score"])

    bar = tqdm(total=len(qs), desc=f"sample {split} ({s['estimator']}, N={n})", unit="q")
    t0 = time.perf_counter()

    def progress(finished, computed):
        bar.update(finished)
        dt = time.perf_counter() - t0
        bar.set_postfix(new_samples_per_s=f"{computed / dt:.1f}" if dt else "-")

    run = run_units(qs, prompts, n, s["chunk"], s["block"], store, compute, per_question=exact,
                    answer_of=lambda q, r: judge(r["text"], q, require_tags, p["normalize"]["equivalence"])[0],
                    adaptive=adaptive,
                    progress=progress)
    bar.close()
    io.write_jsonl(samples_file(split), run.records)
    tokens = sum(r["n_tokens"] if isinstance(r["n_tokens"], int) else sum(r["n_tokens"]) for r in run.records)
    full = len(qs) * n
    meta = {
        "split": split, "questions": len(qs), "estimator": s["estimator"], "n": n,
        "samples": run.samples, "adaptive": spec["adaptive"],
        "adaptive_saved_fraction": 1 - run.samples / full if full else 0.0,
        "model": {"id": p["model"]["id"], "load_from": ref.load_from, "kind": ref.kind, "revision": ref.revision},
        "backend": backend.name, "device": str(backend.device), "versions": io.versions(),
        "prompt": {**p["prompt"], "example": prompts[0] if prompts else None},
        "generation": {k: s[k] for k in ("temperature", "top_p", "max_new_tokens")}, "seed": p["seed"],
        "definition_hash": key, "cache": str(store.root),
        "computed_samples": run.computed, "cached_samples": run.cached,
        "units": {"computed": run.units_computed, "from_cache": run.units_cached, "redone": run.redone},
        "wall_seconds": run.wall, "generated_tokens": tokens,
        # what drawing every sample cost, also when (some) units came from the cache; null when unknown
        "compute_seconds": run.compute_seconds,
        "samples_per_second": run.computed / run.wall if run.wall and run.computed else None,
    }
    io.write_json(samples_meta(split), meta)
    rate = f"{meta['samples_per_second']:.1f} samples/s" if meta["samples_per_second"] else "nothing to compute"
    saved = f", adaptive N saved {meta['adaptive_saved_fraction']:.1%}" if adaptive else ""
    print(f"sample {split}: {len(qs)} questions, {run.samples} samples ({run.computed} computed in "
          f"{run.units_computed} units, {run.cached} from cache in {run.units_cached} units"
          f"{', ' + str(len(run.redone)) + ' redone' if run.redone else ''}) in {run.wall:.0f}s ({rate}){saved}")
    return meta
