"""Each stage's wall time from a log written by scripts/timed_repro.sh (lines stamped with the epoch second).

    python scripts/stage_times.py LOG [--json OUT] [--reused FILE STAGE ...]
A stage runs from its "Running stage" line to the next stage's (the last one to the EXIT line).
--reused: stages this run did not compute (up to date from an earlier run, or served from its cache, e.g. the sampler's
unit cache): their times as that run's FILE measured them are recorded beside this run's, with `total_with_reused_s`
= what a run from scratch takes."""

from __future__ import annotations

import argparse
import re

from ud import io


def stage_times(lines: list[str]) -> dict:
    marks, end, rc = [], None, None
    for line in lines:
        if line.startswith("EXIT "):  # an unstamped EXIT line: TOTAL counts from the first stage's start
            m = re.match(r"EXIT (\d+) TOTAL (\d+) s", line)
            if m and marks:
                end, rc = marks[0][1] + int(m.group(2)), int(m.group(1))
            continue
        stamp, _, rest = line.partition(" ")
        if not stamp.isdigit():
            continue
        m = re.match(r"Running stage '([^']+)'", rest)
        if m and (not marks or marks[-1][0] != m.group(1)):
            marks.append((m.group(1), int(stamp)))
        m = re.match(r"EXIT (\d+) TOTAL (\d+) s", rest)
        if m:
            end, rc = int(stamp), int(m.group(1))
    if not marks or end is None:
        raise SystemExit("no stages, or the run has not finished (no EXIT line)")
    stages = {name: nxt - t for (name, t), (_, nxt) in zip(marks, marks[1:] + [(None, end)])}
    return {"stages_s": stages, "total_s": end - marks[0][1], "exit": rc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("log")
    ap.add_argument("--json")
    ap.add_argument("--reused", nargs="+", metavar=("FILE", "STAGE"), help="an earlier run's stage_times.json, "
                    "then the stages this run took from its cache")
    a = ap.parse_args()
    with open(a.log, errors="replace") as fh:
        t = stage_times(fh.read().splitlines())
    if a.reused:
        earlier = io.read_json(a.reused[0])["stages_s"]
        reused = {name: earlier[name] for name in a.reused[1:]}
        t["reused"] = {"from": a.reused[0], "stages_s": reused}
        t["total_with_reused_s"] = t["total_s"] + sum(reused.values()) - sum(t["stages_s"].get(n, 0) for n in reused)
    for name, s in t["stages_s"].items():
        print(f"{name:28s} {s:6d} s  ({s / 60:5.1f} min)")
    print(f"{'total':28s} {t['total_s']:6d} s  ({t['total_s'] / 60:5.1f} min), exit {t['exit']}")
    if "reused" in t:
        print(f"{'total, reused stages as measured then':28s} {t['total_with_reused_s']:6d} s  "
              f"({t['total_with_reused_s'] / 60:5.1f} min)")
    if a.json:
        io.write_json(a.json, t)


if __name__ == "__main__":
    main()
