"""Stage baselines: one baseline method on the test split -> metrics/<method>.json. Usage: baselines.py METHOD"""
import sys

from ud.pipeline.baselines import METHODS, run
from ud.stage import run_stage

if len(sys.argv) != 2 or sys.argv[1] not in METHODS:
    sys.exit(f"usage: python stages/baselines.py {{{'|'.join(METHODS)}}}")
run_stage(lambda p: run(sys.argv[1], p))
