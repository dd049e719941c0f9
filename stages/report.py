"""Stage report: metrics/summary.md (every method side by side, domain shift) and metrics/plots/reliability.png."""
from ud import report
from ud.stage import run_stage

run_stage(lambda p: print(report.write(shift_datasets=p["shift"]["datasets"])))
