"""Stage baselines: one baseline method on the test split -> metrics/<method>.json. Usage: baselines.py METHOD"""
import sys

from ud.pipeline import baselines
from ud.stage import run_stage

METHODS = {"prompting": baselines.prompting, "teacher": baselines.teacher, "lexical": baselines.lexical,
           "ptrue": baselines.ptrue, "pik": baselines.pik, "semantic": baselines.semantic}
if len(sys.argv) != 2 or sys.argv[1] not in METHODS:
    sys.exit(f"usage: python stages/baselines.py {{{'|'.join(METHODS)}}}")
run_stage(METHODS[sys.argv[1]])
