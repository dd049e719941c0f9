"""Stage annotate: bins + verbal labels -> models/binner.json and the SFT set data/sft/train.jsonl."""
from ud.pipeline import annotate
from ud.stage import run_stage

run_stage(annotate.run)
