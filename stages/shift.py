"""Stage shift: domain shift. `shift.py prepare DATASET` writes its test questions; `shift.py evaluate DATASET`
runs the distilled model, lexical and P(IK) on them -> metrics/shift/<dataset>.json"""
import sys

from ud.pipeline import shift
from ud.stage import run_stage

ACTIONS = {"prepare": shift.prepare, "evaluate": shift.evaluate}
if len(sys.argv) != 3 or sys.argv[1] not in ACTIONS:
    sys.exit("usage: python stages/shift.py {prepare|evaluate} DATASET")
run_stage(lambda p: ACTIONS[sys.argv[1]](p, sys.argv[2]))
