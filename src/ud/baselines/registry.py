"""Every method the comparison scores, in one table: the distilled model, its teacher, and the paper's baselines.

A method is a name (data/eval/<name>.jsonl, metrics/<name>.json), a title for tables, the stage that writes its
answer records, and where its inference cost per answer is measured: the timings entries (ud.timings) whose
seconds per answer add up to it. Adding a method is one stage that writes the common answer record
(ud.records.AnswerRecord) and one row here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    stage: str  # the dvc stage that writes data/eval/<name>.jsonl ("metrics": computed there, from the samples)
    seconds: tuple[tuple[str, str], ...] = ()  # (timings stage, key): per-answer seconds on the test split, added


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("ud", "UD (distilled, 1 generation)", "evaluate", (("evaluate", "per_answer"),)),
    # the teacher's cost is the sampling itself (sample@test's compute per question): ud.timings handles it
    Method("teacher", "teacher (N samples, calibrated)", "metrics"),
    Method("prompting", "prompting (E.1)", "prompting", (("prompting", "per_answer"),)),
    Method("lexical", "lexical (calibrated mean token p)", "lexical", (("greedy_eval", "per_answer"),)),
    # P(True): the greedy answer, its brainstormed samples, and its scoring pass
    Method("ptrue", "P(True)", "ptrue", (("greedy_eval", "per_answer"), ("ptrue", "brainstorm_per_answer"),
                                         ("ptrue", "per_answer"))),
    # P(IK): its features come from the greedy answer's own passes
    Method("pik", "P(IK) probe", "pik", (("greedy_eval", "per_answer"),)),
    # semantic clustering: K fresh samples at the measured rate, per K; under exact one prefill at every K
    Method("semantic", "semantic clustering", "semantic"),
)}
BASELINES = [name for name, m in METHODS.items() if m.stage not in ("evaluate", "metrics")]


def _scored(per_set: dict) -> float | None:
    """A stage's seconds per answer on the scored split (test, or validation in a sweep)."""
    return per_set.get("test", per_set.get("validation"))


def _add(*parts: float | None) -> float | None:
    return None if any(p is None for p in parts) else float(sum(parts))


def seconds_per_answer(t: dict[str, dict]) -> dict:
    """Seconds per answer on the test split for every method whose stages left timings, from what each ran: the sum
    of the timings entries its row names; semantic clustering: K fresh samples at
    the measured rate (under exact: its one prefill, at every K); the teacher: sample@test's compute per question.
    Returns {method: seconds, ..., "semantic_by_k": {k: seconds}}."""
    out: dict = {}
    for m in METHODS.values():
        if m.seconds and all(stage in t for stage, _ in m.seconds):
            out[m.name] = _add(*(_scored((t[stage].get(key) or {})) for stage, key in m.seconds))
    if "semantic" in t:
        rate = t["semantic"].get("seconds_per_sample")
        per_answer = t["semantic"].get("seconds_per_answer")  # exact: one prefill, the same at every K
        ks = t["semantic"].get("k") or []
        out["semantic_by_k"] = {str(k): per_answer if per_answer is not None else None if rate is None else k * rate
                                for k in ks}
        out["semantic"] = out["semantic_by_k"].get(str(t["semantic"].get("default_k")))
    s = t.get("sample@test") or t.get("sample@validation")
    if s and s.get("compute_seconds") is not None and s.get("questions"):
        out["teacher"] = s["compute_seconds"] / s["questions"]
    return {k: v for k, v in out.items() if v is not None and v != {}}


def title(name: str) -> str:
    return METHODS[name].title if name in METHODS else name
