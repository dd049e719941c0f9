"""Stage calibrate: fit f -> p on the calibration answers -> models/calibrator.json, metrics/calibration.json."""
from ud.pipeline import calibrate
from ud.stage import run_stage

run_stage(calibrate.run)
