"""Stage semantic: semantic clustering, K samples per question at inference, clustered; the top cluster's share is
the confidence (Kuhn et al.) -> data/eval/semantic.jsonl (one record per question and K).

Samples come from the sampling engine under the test split's definition, so on the test split the first sample.n
are those sample@test drew (read from its cache) and only those beyond are computed."""

import time

from tqdm import tqdm

from ud import io, paths, stage
from ud.backends import build_backend
from ud.baselines import semantic
from ud.estimators import draw_unit
from ud.prompts import Format
from ud.sampling import ChunkStore, definition, definition_hash, run_units


def main(p):
    sc, s = p.baselines.semantic, p.sample
    estimator = "choices" if s.estimator == "exact" else s.estimator  # exact has no samples to cluster
    fmt = Format.from_params(p.prompt)
    backend, ref = build_backend(p.model, chat=fmt.chat)
    spec = definition(p.model, ref.revision, p.prompt, p.seed, backend.name, s, estimator=estimator, adaptive=False)
    kmax = max(sc.k)

    def compute(batch, ks):
        return draw_unit(backend, fmt, batch, ks, estimator, p.seed, s.temperature, s.top_p, s.max_new_tokens)

    sets = paths.eval_sets(shift=sc.shift)
    samples: dict[str, list[dict]] = {}
    for name, qs in sets:
        store = ChunkStore(paths.SAMPLE_CACHE / name / definition_hash(spec), spec)
        with tqdm(total=len(qs), desc=f"semantic {name} (K={kmax})", unit="q") as bar:
            run = run_units(qs, [fmt.prompt(q, backend.tok) for q in qs], kmax, s.chunk, s.block, store, compute,
                            progress=lambda finished, computed: bar.update(finished))
        for r in run.records:
            samples.setdefault(f"{name}/{r['qid']}", []).append(r)
    # cost: K fresh samples per answer, timed on test questions without the cache
    sub = sets[0][1][: sc.timing_questions]
    t0 = time.perf_counter()
    timing = [draw_unit(backend, fmt, sub[i:i + s.chunk], list(range(kmax)), estimator, p.seed + 1, s.temperature,
                        s.top_p, s.max_new_tokens) for i in tqdm(range(0, len(sub), s.chunk), desc="semantic timing")]
    per_sample = (time.perf_counter() - t0) / max(1, len(sub) * kmax)
    tokens_per_sample = sum(r["n_tokens"] for t in timing for r in t) / max(1, len(sub) * kmax)
    records = []
    for name, qs in sets:
        by_q = {q["id"]: samples[f"{name}/{q['id']}"] for q in qs}
        for k in sc.k:
            records += semantic.score(qs, by_q, k, fmt.tagged, tokens_per_sample=tokens_per_sample,
                                      seconds_per_sample=per_sample, equivalence=p.normalize.equivalence)
    io.write_jsonl(paths.eval_file("semantic"), records)


if __name__ == "__main__":
    stage.run(main)
