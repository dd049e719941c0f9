"""Stage semantic: semantic clustering, K samples per question at inference, clustered as the teacher's answer sets
are (options; for open answers the equivalence keys and the normalize.cluster merge); the top cluster's share is
the confidence (Kuhn et al.) -> data/eval/semantic.jsonl (one record per question and K).

Samples come from the sampling engine under the test split's definition, so on the test split the first sample.n
are those sample@test drew (read from its cache) and only those beyond are computed."""

import time

from tqdm import tqdm

from ud import io, paths, stage
from ud.backends import build_backend
from ud.baselines import semantic
from ud.clustering import merger
from ud.estimators import draw_unit, inference_samples
from ud.prompts import Format
from ud.sampling import ChunkStore, definition, definition_hash


def main(p):
    sc, s = p.baselines.semantic, p.sample
    estimator = "choices" if s.estimator == "exact" else s.estimator  # exact has no samples to cluster
    fmt = Format.from_params(p.prompt)
    backend, ref = build_backend(p.model, chat=fmt.chat)
    spec = definition(p.model, ref.revision, p.prompt, p.seed, backend.name, s, estimator=estimator, adaptive=False)
    kmax = max(sc.k)
    sets = paths.eval_sets(shift=sc.shift)
    samples = {}
    for name, qs in sets:
        with tqdm(total=len(qs), desc=f"semantic {name} (K={kmax})", unit="q") as bar:
            by_q, _ = inference_samples(backend, fmt, qs, kmax, ChunkStore(paths.SAMPLE_CACHE / name /
                                        definition_hash(spec), spec), p.seed, s, estimator,
                                        progress=lambda finished, computed: bar.update(finished))
        samples[name] = by_q
    # cost: K fresh samples per answer, timed on test questions without the cache
    sub = sets[0][1][: sc.timing_questions]
    t0 = time.perf_counter()
    timing = [draw_unit(backend, fmt, sub[i:i + s.chunk], list(range(kmax)), estimator, p.seed + 1, s.temperature,
                        s.top_p, s.max_new_tokens) for i in tqdm(range(0, len(sub), s.chunk), desc="semantic timing")]
    per_sample = (time.perf_counter() - t0) / max(1, len(sub) * kmax)
    tokens_per_sample = sum(r["n_tokens"] for t in timing for r in t) / max(1, len(sub) * kmax)
    merge = merger(p.normalize, p.model.id, p.model.dtype) if any(not q.get("choices") for _, qs in sets
                                                                    for q in qs) else None
    records = []
    for name, qs in sets:
        for k in sc.k:
            records += semantic.score(qs, samples[name], k, fmt.tagged, tokens_per_sample=tokens_per_sample,
                                      seconds_per_sample=per_sample, equivalence=p.normalize.equivalence,
                                      merge=merge)
    io.write_jsonl(paths.eval_file("semantic"), records)


if __name__ == "__main__":
    stage.run(main)
