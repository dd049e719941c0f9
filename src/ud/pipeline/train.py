"""Stage train."""

from __future__ import annotations

from ud import io
from ud.pipeline.paths import BINNER, METRICS, SFT_FILE, UD_MODEL


def run(p: dict) -> dict:
    from ud.train import train as fit

    ex = list(io.read_jsonl(SFT_FILE))
    labels = io.read_json(BINNER)["labels"]
    meta = fit(p["model"]["id"], ex, str(UD_MODEL), p["train"], p["seed"], live_dir=str(METRICS / "train"),
               labels=labels)
    print(f"train: {meta}")
    return meta
