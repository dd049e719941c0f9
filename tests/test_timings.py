"""Seconds are machine facts: no result holds them; each method's seconds per answer are composed from the stages'
timings (ud.timings) as its registry row says (ud.baselines.registry)."""

import pytest

from ud import timings
from ud.baselines.registry import seconds_per_answer


def test_timings_compose_seconds_per_answer_from_what_each_stage_ran(tmp_path):
    timings.write("evaluate", {"per_answer": {"test": 0.4, "mmlu": 0.5}}, tmp_path)
    timings.write("greedy_eval", {"per_answer": {"test": 0.1}}, tmp_path)
    timings.write("ptrue", {"per_answer": {"test": 0.2}, "brainstorm_per_answer": {"test": 1.0}}, tmp_path)
    timings.write("semantic", {"seconds_per_sample": 0.05, "k": [5, 20], "default_k": 20}, tmp_path)
    timings.write("sample@test", {"questions": 10, "compute_seconds": 30.0}, tmp_path)
    s = seconds_per_answer(timings.read_all(tmp_path))
    assert s["ud"] == 0.4 and s["lexical"] == s["pik"] == 0.1
    assert s["ptrue"] == pytest.approx(1.3)  # greedy answer + brainstormed samples + its scoring pass
    assert s["semantic"] == pytest.approx(1.0)
    assert s["semantic_by_k"] == {"5": pytest.approx(0.25), "20": pytest.approx(1.0)}
    assert s["teacher"] == 3.0 and "prompting" not in s  # a stage that left no timings: unknown, not zero


def test_a_stage_clock_measures_each_set(monkeypatch):
    clock = timings.PerSet()
    ticks = iter([10.0, 14.0])
    monkeypatch.setattr(timings.time, "perf_counter", lambda: next(ticks))
    with clock.timing("test", 8):
        pass
    assert clock.per_answer == {"test": 0.5}
