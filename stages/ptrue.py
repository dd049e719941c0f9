"""Stage ptrue: P(True), the base model asked whether its greedy answer is true, few-shot with calibration-split
examples, after seeing `baselines.ptrue.samples` of its own brainstormed samples -> data/eval/ptrue.jsonl (test, and
the shift datasets when baselines.ptrue.shift). The samples come from ud.sampling.draws, as the semantic stage's do, so the two
stages (and, on the test split, sample@test) share them; with the exact estimator they are draws from each question's
option distribution (one prefill for all of them)."""

from ud import paths, stage, timings
from ud.baselines import ptrue
from ud.data.prompts import Format
from ud.engines.registry import build_backend
from ud.method.normalize import extract_answer
from ud.records import ANSWERS, GREEDY
from ud.sampling import draws
from ud.sampling.estimators import DrawSetting


def main(p):
    pt = p.baselines.ptrue
    fmt = Format.from_params(p.prompt)
    backend, ref = build_backend(p.model, chat=fmt.chat, scoring=True)
    shots = ptrue.fit({q["id"]: q for q in paths.questions("calibration")},
                      GREEDY.read(paths.greedy_file("calibration")), pt.shots, p.seed)
    greedy = {(r["set"], r["qid"]): r for r in GREEDY.read(paths.greedy_file("eval"))}
    records, scoring, brainstorm = [], timings.PerSet(), {}
    for name, qs in paths.eval_sets(p.scored, shift=pt.shift):
        ideas, cost = None, None
        brainstorm[name] = 0.0  # without brainstormed samples
        if pt.samples:
            by_q, per_sample = draws.samples(backend, fmt, qs, pt.samples, paths.SAMPLE_CACHE / name,
                                             DrawSetting(p.model, p.prompt, p.sample, p.seed, ref.revision))
            ideas = {qid: [(extract_answer(r["text"], fmt.tagged) or r["text"]).strip().split("\n")[0]
                           for r in rs[: pt.samples]] for qid, rs in by_q.items()}
            tokens = sum(r["n_tokens"] for rs in by_q.values() for r in rs[: pt.samples]) / max(1, len(by_q))
            cost = {"samples": pt.samples, "generated_tokens": tokens}
            brainstorm[name] = None if per_sample is None else pt.samples * per_sample
        with scoring.timing(name, len(qs)):
            records += ptrue.score(backend, shots, qs, [greedy[(name, q["id"])] for q in qs], ideas, cost,
                                   desc=f"p(true) {name}")
    ANSWERS.write(paths.eval_file("ptrue"), records)
    # brainstorm: the samples' compute time (also when read from the cache); per_answer: the scoring pass
    timings.write("ptrue", {"per_answer": scoring.per_answer, "brainstorm_per_answer": brainstorm})


if __name__ == "__main__":
    stage.run(main)
