"""Stage semantic: semantic clustering, K samples per question at inference, clustered as the teacher's answer sets
are (options; for open answers the equivalence keys and the normalize.cluster merge); the top cluster's share is
the confidence (Kuhn et al.) -> data/eval/semantic.jsonl (one record per question and K).

Samples come from ud.sampling.draws under the test split's definition, so on the test split the first sample.n are those
sample@test drew (read from its cache) and only those beyond are computed; with the exact estimator they are draws
from each question's option distribution, whose one prefill is sample@test's."""

from dataclasses import replace

from tqdm import tqdm

from ud import paths, stage, timings
from ud.baselines import semantic
from ud.data.prompts import Format
from ud.engines.registry import build_backend, sampling_scores
from ud.method.clustering import merger
from ud.records import ANSWERS
from ud.sampling import draws
from ud.sampling.estimators import DrawSetting


def main(p):
    sc = p.baselines.semantic
    fmt = Format.from_params(p.prompt)
    exact = p.sample.estimator == "exact"
    backend, ref = build_backend(p.model, chat=fmt.chat, scoring=sampling_scores(p.model, p.sample.estimator))
    kmax = max(sc.k)
    setting = DrawSetting(p.model, p.prompt, p.sample, p.seed, ref.revision)
    sets = paths.eval_sets(p.scored, shift=sc.shift)
    samples = {}
    for name, qs in sets:
        with tqdm(total=len(qs), desc=f"semantic {name} (K={kmax})", unit="q") as bar:
            samples[name], _ = draws.samples(backend, fmt, qs, kmax, paths.SAMPLE_CACHE / name, setting,
                                             progress=lambda finished, computed: bar.update(finished))
    # cost: K fresh samples per answer (another seed: not the cached draws), timed on test questions
    per_sample, tokens_per_sample = draws.timed(backend, fmt, sets[0][1][: sc.timing_questions], kmax,
                                                replace(setting, seed=p.seed + 1))
    merge = merger(p.normalize, p.model.id, p.model.dtype) if any(not q.get("choices") for _, qs in sets
                                                                    for q in qs) else None
    records = []
    for name, qs in sets:
        for k in sc.k:
            records += semantic.score(qs, samples[name], k, fmt.tagged, tokens_per_sample=tokens_per_sample,
                                      exact=exact, equivalence=p.normalize.equivalence, merge=merge)
    ANSWERS.write(paths.eval_file("semantic"), records)
    # exact: one prefill per answer whatever K (timed draws every kmax from it), so the time is per answer
    timings.write("semantic", {"seconds_per_sample": None if exact else per_sample, "k": sc.k,
                               "default_k": sc.default_k,
                               "seconds_per_answer": kmax * per_sample if exact else None})


if __name__ == "__main__":
    stage.run(main)
