"""The metrics stage for the methods whose answer records exist, when a run stopped before every baseline
finished (run in the project folder). Writes what `stages/metrics.py` writes for those methods, plus
metrics/partial.json naming the methods that are missing -- so a partial run is never read as a whole one.

    python scripts/partial_metrics.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ud import io, params, paths, report


def main() -> None:
    have = tuple(m for m in report.METHODS if m == "teacher" or paths.eval_file(m).exists())
    missing = [m for m in report.METHODS if m not in have]
    spec = importlib.util.spec_from_file_location("metrics_stage", Path("stages/metrics.py"))
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    report.METHODS = have  # the stage and the summary iterate over report.METHODS
    stage.main(params.load())
    io.write_json(paths.METRICS / "partial.json", {"methods": list(have), "missing": missing,
                                                   "why": "the run stopped before these stages finished"})
    print(f"partial metrics: {', '.join(have)}; missing: {', '.join(missing) or 'none'}")


if __name__ == "__main__":
    main()
