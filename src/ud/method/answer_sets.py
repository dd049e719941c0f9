"""A set of questions' samples -> their answer sets: each answer's class and frequency, as the normalize stage
writes them (data/answers/) and as the teacher is scored on a domain-shift set (stages/teacher_shift.py).

Exact records give their option probabilities; sampled ones are counted over their first `n` draws: options for
multiple choice, equivalence keys (then the optional NLI / judge merge, built on the first open question) for open
answers."""

from __future__ import annotations

from ud.errors import DataError
from ud.method.clustering import merger
from ud.method.normalize import answer_set, answer_set_exact, answer_set_open
from ud.params import NormalizeParams
from ud.records import AnswerSet, Question, Sample


def answer_sets(questions: list[Question], samples: dict[str, list[Sample]], *, estimator: str, n: int,
                adaptive: bool, require_tags: bool, normalize: NormalizeParams, model_id: str, dtype: str,
                seed: int, source: str) -> list[AnswerSet]:
    """One answer set per question (by id, in order). samples: the question's records (exact: its one record).
    adaptive: adaptive N stopped settled questions early, so fewer than `n` draws is by design. source names the
    samples in errors."""
    qs = {q["id"]: q for q in questions}
    missing = [qid for qid in qs if qid not in samples]
    if missing:
        raise DataError(f"{source} has no samples for {len(missing)} questions (e.g. {missing[0]}); rerun the "
                        "sample stage")
    out = []
    merge = False  # built on the first open question (loads a model when normalize.cluster is set)
    for qid, q in qs.items():
        recs = samples[qid]
        if estimator == "exact":
            out.append(answer_set_exact(q, recs[0]))
            continue
        drawn = len(recs)
        if n > drawn and not adaptive:
            raise DataError(f"n={n}: only {drawn} samples were drawn for {qid}; raise sample.n and resample")
        if q.get("choices"):
            out.append(answer_set(q, recs, min(n, drawn), require_tags))
        else:  # open answer: clusters of equivalent answers
            if merge is False:
                merge = merger(normalize, model_id, dtype)
            out.append(answer_set_open(q, recs, min(n, drawn), require_tags, normalize.equivalence, seed, merge))
    return out
