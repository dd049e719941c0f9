"""Stage report: metrics/summary.md (every method side by side) and metrics/plots/reliability.png."""
from ud import report
from ud.stage import run_stage

METHODS = ["ud", "teacher", "prompting"]
run_stage(lambda p: print(report.write(METHODS)))
