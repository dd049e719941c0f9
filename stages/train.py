"""Stage train: SFT (LoRA or full) on the self-annotated set -> models/ud/, curves in metrics/train/ (dvclive)."""

from ud import io, paths, stage
from ud.train import train


def main(p):
    examples = list(io.read_jsonl(paths.SFT_FILE))
    labels = io.read_json(paths.BINNER)["labels"]
    meta = train(p.model.id, examples, str(paths.UD_MODEL), p.train, p.seed, dtype=p.model.dtype,
                 live_dir=str(paths.METRICS / "train"), labels=labels)
    print(f"train: {meta}")


if __name__ == "__main__":
    stage.run(main)
