"""Stage baselines_semantic: K samples per test question at inference, clustered; the top cluster's share is the
confidence (Kuhn et al.). Samples come from the sampling engine under the test split's definition, so the first
sample.n are those sample@test drew (read from its cache) and only those beyond are computed."""

from __future__ import annotations

import time

from ud.pipeline.baselines import greedy
from ud.pipeline.paths import questions, write_method


def run(p: dict) -> dict:
    from tqdm import tqdm

    from ud.baselines.scores import score_method
    from ud.baselines.semantic import cluster_answer
    from ud.estimators import draw_unit
    from ud.pipeline.sample import CACHE_DIR, definition
    from ud.sampling import ChunkStore, definition_hash, run_units

    sc, s = p["baselines"]["semantic"], p["sample"]
    estimator = "choices" if s["estimator"] == "exact" else s["estimator"]  # exact has no samples to cluster
    backend, fmt, ref = greedy.base_backend(p)
    spec = definition(p, ref, backend.name, estimator=estimator, adaptive=False)  # K samples always, no early stop
    store = ChunkStore(CACHE_DIR / "test" / definition_hash(spec), spec)
    qs = questions("test")
    prompts = [fmt.prompt(x, backend.tok) for x in qs]
    kmax = max(sc["k"])

    def compute(batch, ks):
        return draw_unit(backend, fmt, batch, ks, estimator, p["seed"], s["temperature"], s["top_p"],
                         s["max_new_tokens"])

    with tqdm(total=len(qs), desc=f"semantic test (K={kmax})", unit="q") as bar:
        run = run_units(qs, prompts, kmax, s["chunk"], s["block"], store, compute,
                        progress=lambda finished, computed: bar.update(finished))
    # cost: K fresh samples per answer, timed on a subset without the cache
    sub = qs[: sc["timing_questions"]]
    t0 = time.perf_counter()
    timing = [draw_unit(backend, fmt, sub[i:i + s["chunk"]], list(range(kmax)), estimator, p["seed"] + 1,
                        s["temperature"], s["top_p"], s["max_new_tokens"])
              for i in tqdm(range(0, len(sub), s["chunk"]), desc="semantic timing", unit="chunk")]
    per_sample = (time.perf_counter() - t0) / max(1, len(sub) * kmax)
    tokens_per_sample = sum(r["n_tokens"] for t in timing for r in t) / max(1, len(sub) * kmax)
    by_q: dict[str, list[dict]] = {}
    for r in run.records:
        by_q.setdefault(r["qid"], []).append(r)
    require_tags = p["prompt"]["template"] == "reasoning"
    by_k = {}
    for k in sc["k"]:
        recs = [cluster_answer(x, by_q[x["id"]], k, require_tags, p["normalize"]["equivalence"]) for x in qs]
        shares = [r["share"] for r in recs]
        cost = {"samples_per_answer": k, "forward_passes_per_answer": k * tokens_per_sample,
                "generated_tokens_per_answer": k * tokens_per_sample, "seconds_per_answer": k * per_sample}
        by_k[k] = score_method("semantic", recs, shares, shares, p["bins"], cost)
    metrics, rel = by_k[sc["default_k"]]
    metrics = dict(metrics, k=sc["default_k"], by_k={str(k): {key: m[key] for key in (
        "auroc", "auroc_ci", "auroc_raw", "accuracy", "high_acc", "high_pct", "ece", "brier", "invalid_rate", "cost")}
        for k, (m, _) in by_k.items()})
    write_method("semantic", metrics, rel)
    return metrics
