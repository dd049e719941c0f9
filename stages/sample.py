"""Stage sample: the estimator's draws for one split -> data/samples/<split>.jsonl.gz (+ .meta.json)."""
import sys

from ud.pipeline import sample
from ud.stage import run_stage

run_stage(lambda p: sample.run(p, sys.argv[1]), check_model=True)
