"""Wall-clock seconds, kept apart from results.

Seconds differ on every machine and every rerun. A DVC output's hash goes into dvc.lock, so seconds inside an
output would make every rerun look like a changed result. So no output holds them: each stage writes what it
measured to timings/<stage>.json (git-ignored, not a DVC output), and `ud timings` turns those files into seconds
per answer for every method (ud.baselines.registry.seconds_per_answer). `ud timings --keep results/<profile>` keeps a run's numbers in git, beside its
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
