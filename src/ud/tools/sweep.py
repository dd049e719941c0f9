"""`ud sweep`: choose knobs on the validation split, never on test.

Each combination of the given values runs as a DVC experiment (`dvc exp run -S scored=validation -S key=value ...`),
so only the stages a knob reaches rerun and every experiment stays in `dvc exp show`. After each one the sweep
reads the metrics the pipeline wrote for the validation split and keeps one row: the distilled model's and the
teacher's binned AUROC (the teacher's is the ceiling the student imitates), accuracy, the paired difference to the
teacher, and the SFT label histogram. The rows go to `--out` (JSON), rendered as a table.

A sweep refuses to score the test split: `scored` cannot be swept or set, and every row is checked to come from the
validation split. The test split is scored once, by `dvc repro` with the chosen values written into params.yaml.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

from ud.errors import ParamError

READS = ("ud", "teacher", "annotate")


def grid(settings: list[str]) -> list[dict[str, str]]:
    """Every combination of `key=v1,v2,...` settings, as {key: value} (values as given, parsed by DVC)."""
    axes = []
    for s in settings:
        key, sep, values = s.partition("=")
        if not sep or not key or not values:
            raise ParamError(f"-S {s!r}: expected key=value[,value...]")
        if key == "scored" or key.startswith("scored."):
            raise ParamError("a sweep never scores the test split: `scored` is not a knob to sweep (test is scored "
                             "once, with `dvc repro`, for the configuration chosen)")
        if key.startswith("prepare.test") or key.startswith("shift."):
            raise ParamError(f"-S {key}: a sweep never looks at the test split or a shift set")
        axes.append([(key, v) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)]


def row(config: dict[str, str], metrics_dir: Path = Path("metrics")) -> dict:
    m = {name: json.loads((metrics_dir / f"{name}.json").read_text()) for name in READS}
    for name in ("ud", "teacher"):
        if m[name].get("split") != "validation":
            raise ParamError(f"{metrics_dir}/{name}.json scores {m[name].get('split')!r}, not validation: the sweep "
                             "reads validation metrics only")
    paired = (m["ud"].get("paired") or {}).get("teacher") or {}
    return {"config": config, "n": m["ud"]["n"], "ud_auroc": m["ud"]["auroc"], "teacher_auroc": m["teacher"]["auroc"],
            "ud_accuracy": m["ud"]["accuracy"], "teacher_accuracy": m["teacher"]["accuracy"],
            "delta_vs_teacher": paired.get("delta"), "delta_ci": paired.get("ci"),
            "sft_labels": m["annotate"]["per_bin"]}


def run(settings: list[str], out: Path, dvc: str = "dvc") -> list[dict]:
    """Run every combination as a DVC experiment on the validation split; the rows, also written to `out`."""
    configs = grid(settings)
    rows = []
    for config in configs:
        args = [dvc, "exp", "run", "-S", "scored=validation"] + [a for k, v in config.items() for a in ("-S", f"{k}={v}")]
        print("$ " + " ".join(args), flush=True)
        subprocess.run(args, check=True)
        rows.append(row(config))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2) + "\n")  # after each run: a killed sweep keeps what it finished
    return rows


def table(rows: list[dict]) -> str:
    def f(v):
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| config | n | UD auroc | teacher auroc | Δ vs teacher [95% ci] | UD acc | SFT labels |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        cfg = ", ".join(f"{k}={v}" for k, v in r["config"].items())
        ci = f" [{r['delta_ci'][0]:+.3f}, {r['delta_ci'][1]:+.3f}]" if r.get("delta_ci") else ""
        delta = "-" if r["delta_vs_teacher"] is None else f"{r['delta_vs_teacher']:+.3f}{ci}"
        labels = " / ".join(str(v) for v in r["sft_labels"].values())
        lines.append(f"| {cfg} | {r['n']} | {f(r['ud_auroc'])} | {f(r['teacher_auroc'])} | {delta} | "
                     f"{f(r['ud_accuracy'])} | {labels} |")
    return "\n".join(lines) + "\n"
