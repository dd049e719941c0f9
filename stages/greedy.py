"""Stage greedy: the base model's greedy answers + P(IK) features for one split -> data/greedy/<split>.*"""
import sys

from ud.pipeline import baselines
from ud.stage import run_stage

run_stage(lambda p: baselines.greedy(p, sys.argv[1]), check_model=True)
