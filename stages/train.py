"""Stage train: SFT (LoRA or full) on the self-annotated set -> models/ud/, curves in metrics/train/."""
from ud.pipeline import train
from ud.stage import run_stage

run_stage(train.run)
