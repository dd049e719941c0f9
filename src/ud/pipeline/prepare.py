"""Stage prepare."""

from __future__ import annotations

from ud import io
from ud.pipeline.paths import METRICS, PLOTS, split_file


def run(p: dict) -> dict:
    from ud.sources import make_splits

    splits = make_splits(p["data"]["source"], p["data"]["dataset"], p["prepare"], p["seed"])
    counts = {name: io.write_jsonl(split_file(name), qs) for name, qs in splits.items()}
    # the report stage reads these folders; with an empty shift.datasets no stage would create them
    for folder in (METRICS / "shift", PLOTS / "shift"):
        folder.mkdir(parents=True, exist_ok=True)
    print(f"prepare: {counts}")
    return counts
