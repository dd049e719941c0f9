"""Wall-clock seconds, kept apart from results.

Seconds differ on every machine and every rerun. A DVC output's hash goes into dvc.lock, so seconds inside an
output would make every rerun look like a changed result. So no output holds them: each stage writes what it
measured to timings/<stage>.json (git-ignored, not a DVC output), and `ud timings` turns those files into seconds
per answer for every method. `ud timings --keep results/<profile>` keeps a run's numbers in git, beside its
metrics, and the README renders them from there.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from ud import io

DIR = Path("timings")


def write(stage: str, data: dict, folder: Path = DIR) -> None:
    io.write_json(Path(folder) / f"{stage}.json", data)


def read_all(folder: Path = DIR) -> dict[str, dict]:
    """stage -> what it measured, for every timings file in the folder."""
    return {f.stem: io.read_json(f) for f in sorted(Path(folder).glob("*.json"))}


class PerSet:
    """Seconds per answer of one stage's work on each evaluation set: `with t.timing(name, answers): ...`."""

    def __init__(self):
        self.per_answer: dict[str, float] = {}

    @contextmanager
    def timing(self, name: str, answers: int):
        t0 = time.perf_counter()
        yield
        self.per_answer[name] = (time.perf_counter() - t0) / max(1, answers)


def _add(*parts: float | None) -> float | None:
    return None if any(p is None for p in parts) else float(sum(parts))


def seconds_per_answer(t: dict[str, dict]) -> dict:
    """Seconds per answer on the test split for every method whose stages left timings, from what each ran:
    the distilled model and prompting: their one generation; lexical and P(IK): the greedy answer (P(IK)'s
    features come from the same passes); P(True): the greedy answer, its brainstormed samples and its scoring pass;
    semantic clustering: K fresh samples at the measured rate; the teacher: sample@test's compute per question.
    Returns {method: seconds, ..., "semantic_by_k": {k: seconds}}."""
    out: dict = {}

    def per(stage, key="per_answer"):
        return (t.get(stage) or {}).get(key, {}).get("test")

    out["ud"] = per("evaluate")
    out["prompting"] = per("prompting")
    greedy = per("greedy_eval")
    out["lexical"] = out["pik"] = greedy
    if "ptrue" in t:
        out["ptrue"] = _add(greedy, per("ptrue", "brainstorm_per_answer"), per("ptrue"))
    if "semantic" in t:
        rate = t["semantic"].get("seconds_per_sample")
        ks = t["semantic"].get("k") or []
        out["semantic_by_k"] = {str(k): (None if rate is None else k * rate) for k in ks}
        out["semantic"] = out["semantic_by_k"].get(str(t["semantic"].get("default_k")))
    s = t.get("sample@test")
    if s and s.get("compute_seconds") is not None and s.get("questions"):
        out["teacher"] = s["compute_seconds"] / s["questions"]
    return {k: v for k, v in out.items() if v is not None and v != {}}
