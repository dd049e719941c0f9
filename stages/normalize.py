"""Stage normalize: the first `n` samples of each question -> answer classes and frequencies (data/answers/)."""
import sys

from ud.pipeline import normalize
from ud.stage import run_stage

run_stage(lambda p: normalize.run(p, sys.argv[1]))
