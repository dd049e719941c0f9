"""Stage train: SFT (LoRA or full) on the self-annotated set -> models/ud/, curves in metrics/train/ (dvclive).

train.launcher: accelerate runs this same script under `accelerate launch --config_file <train.accelerate_config>`
(configs/accelerate/: DDP, FSDP2, DeepSpeed ZeRO-2/3 on GPUs; two CPU processes over MPI): every process trains,
the main one writes models/ud/."""

import os
import subprocess
import sys
import time
from pathlib import Path

from ud import io, paths, stage, timings
from ud.errors import DataError
from ud.method.train import train

LAUNCHED = "UD_TRAIN_LAUNCHED"  # set for the processes `accelerate launch` starts, so they train instead of launching


def launch(config: str) -> None:
    if not Path(config).is_file():
        raise DataError(f"train.accelerate_config={config!r}: no such file (see configs/accelerate/)")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config, __file__]
    print(f"train: {' '.join(cmd[2:])}", flush=True)
    done = subprocess.run(cmd, env={**os.environ, LAUNCHED: "1"})
    if done.returncode != 0:
        sys.exit(f"train: accelerate launch exited with {done.returncode}")


def main(p):
    if p.train.launcher == "accelerate" and not os.environ.get(LAUNCHED):
        launch(p.train.accelerate_config)
        print(f"train: {io.read_json(paths.UD_MODEL / 'ud_model.json')}")
        return
    examples = list(io.read_jsonl(paths.SFT_FILE))
    labels = io.read_json(paths.BINNER)["labels"]
    t0 = time.perf_counter()
    meta = train(p.model.id, examples, str(paths.UD_MODEL), p.train, p.seed, dtype=p.model.dtype,
                 live_dir=str(paths.METRICS / "train"), labels=labels)
    timings.write("train", {"seconds": time.perf_counter() - t0, "steps": meta["steps"]})
    print(f"train: {meta}")


if __name__ == "__main__":
    stage.run(main)
