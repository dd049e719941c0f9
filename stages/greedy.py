"""Stage greedy: the base model's greedy answers + P(IK) features for one split -> data/greedy/<split>.*"""
import sys

from ud.pipeline.baselines import greedy
from ud.stage import run_stage

run_stage(lambda p: greedy.run(p, sys.argv[1]), check_model=True)
