"""Stage prepare: seeded, disjoint calibration/validation/test splits in one question schema -> data/splits/."""
from ud.pipeline import prepare
from ud.stage import run_stage

run_stage(prepare.run, check_model=True)  # checks model too, so a bad model id stops before any compute
