"""Each stage's wall time from a `dvc repro` log whose lines are stamped with the epoch second (what
scripts/timed_repro.sh writes). A stage runs from its "Running stage" line to the next stage's, the last one to the
EXIT line."""

from __future__ import annotations

import re

from ud.errors import DataError

_EXIT = re.compile(r"EXIT (\d+) TOTAL (\d+) s")


def stage_times(lines: list[str]) -> dict:
    """{stages_s: {stage: seconds}, total_s, exit} of one stamped log."""
    marks, end, rc = [], None, None
    for line in lines:
        if line.startswith("EXIT "):  # an unstamped EXIT line: TOTAL counts from the first stage's start
            m = _EXIT.match(line)
            if m and marks:
                end, rc = marks[0][1] + int(m.group(2)), int(m.group(1))
            continue
        stamp, _, rest = line.partition(" ")
        if not stamp.isdigit():
            continue
        m = re.match(r"Running stage '([^']+)'", rest)
        if m and (not marks or marks[-1][0] != m.group(1)):
            marks.append((m.group(1), int(stamp)))
        m = _EXIT.match(rest)
        if m:
            end, rc = int(stamp), int(m.group(1))
    if not marks or end is None:
        raise DataError("no stages in the log, or the run has not finished (no EXIT line)")
    stages = {name: nxt - t for (name, t), (_, nxt) in zip(marks, marks[1:] + [(None, end)])}
    return {"stages_s": stages, "total_s": end - marks[0][1], "exit": rc}


def with_reused(times: dict, earlier: dict, source: str, reused: list[str]) -> dict:
    """`times` plus the stages this run took from an earlier run's outputs or cache, as that run measured them, and
    `total_with_reused_s`: what a run from scratch takes."""
    missing = [n for n in reused if n not in earlier["stages_s"]]
    if missing:
        raise DataError(f"{source} has no time for {missing}")
    took = {n: earlier["stages_s"][n] for n in reused}
    total = times["total_s"] + sum(took.values()) - sum(times["stages_s"].get(n, 0) for n in reused)
    return dict(times, reused={"from": source, "stages_s": took}, total_with_reused_s=total)
