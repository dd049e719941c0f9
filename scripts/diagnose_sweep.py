"""Issue 11's diagnosis sweep: the distilled model retrained under one change at a time (data size, learning rate,
incorrect examples per question), each scored on the same prefix of the test split. A diagnostic, not a stage:
every variant is a real `dvc repro evaluate` of this repository with params.yaml changed (what `dvc exp run -S`
does), the domain-shift sets left out and the test split cut to `--test-size` questions (a prefix of the same
shuffle, so sample@test comes from the unit cache) so that a variant costs its training plus a few minutes.
params.yaml, dvc.lock, the outputs (`dvc checkout`) and metrics/ are restored at the end, also after a failure or Ctrl-C.

    python scripts/diagnose_sweep.py --out results/cpu-large/diagnosis --test-size 152 \
        base "incorrect0:incorrect=0" "cal200:prepare.calibration.questions=200" "lr5e-4:train.lr=0.0005"

Each variant writes OUT/<name>.json (its overrides, SFT label histogram, training loss and time, test metrics) and
OUT/<name>.dvc.lock; `ud report --readme` renders the table from them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ruamel.yaml import YAML

from ud import io, paths
from ud.baselines import teacher
from ud.binning import Binner
from ud.calibrate import Calibrator
from ud.metrics import score_verbal

KEEP = ("accuracy", "auroc", "auroc_ci", "auroc_bin_argmax", "auroc_bin_expected", "auroc_raw", "high_acc",
        "high_pct", "ece", "brier")


def parse_variant(spec: str) -> tuple[str, dict]:
    """'name:key=value,key=value' (values are YAML) -> (name, {dotted key: value}); 'base' changes nothing."""
    name, _, rest = spec.partition(":")
    overrides = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        overrides[key.strip()] = YAML(typ="safe").load(value)
    return name, overrides


def write_params(base: str, overrides: dict) -> None:
    yaml = YAML()  # round trip: the comments stay
    yaml.width = 4096
    doc = yaml.load(base)
    for key, value in overrides.items():
        node, parts = doc, key.split(".")
        for part in parts[:-1]:
            node = node[part]
        if parts[-1] not in node:
            raise SystemExit(f"diagnose_sweep: params.yaml has no {key}")
        node[parts[-1]] = value
    with open("params.yaml", "w") as f:
        yaml.dump(doc, f)


def run_group(cmd: list[str], log: Path, grace: float = 60.0) -> int:
    """Run cmd in its own process group, output to `log`. If this process is interrupted (Ctrl-C, SIGTERM), the
    whole group is stopped before the interrupt goes on -- `dvc repro` gets SIGINT (it stops its stage), and after
    `grace` seconds whatever is left (the stage's interpreter, its children) SIGKILL -- so that no training keeps
    writing into the workspace while params.yaml and dvc.lock are being restored."""
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait()
        except BaseException:
            stop_group(proc.pid, grace)
            proc.wait()
            raise


def stop_group(pgid: int, grace: float) -> None:
    try:
        os.killpg(pgid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)  # anyone left in the group?
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextmanager
def kept(folder: Path):
    """The folder as it is now, put back on exit (also after a failure): metrics/ is git-tracked (`cache: false`),
    so `dvc checkout` does not restore it after a variant's `dvc repro` rewrote it."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / folder.name
        shutil.copytree(folder, copy, symlinks=True)
        try:
            yield
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(copy, folder, symlinks=True)


def cached(lock: dict, stage: str, path: str) -> Path:
    """An output of a stage as recorded in a dvc.lock, from the DVC cache (so a variant can be rescored later)."""
    from dvc.repo import Repo

    md5 = next(o["md5"] for o in lock["stages"][stage]["outs"] if o["path"] == path)
    with Repo(".") as repo:  # the configured cache (`dvc cache dir`), which may be shared with other clones
        return Path(repo.cache.local.path) / md5[:2] / md5[2:]


def score(lock_file: Path, test_size: int) -> dict:
    """The distilled model's metrics on the first `test_size` test questions, with the teacher (its exact
    probabilities in this variant's bins) and the base model's greedy accuracy on the same questions."""
    lock = YAML(typ="safe").load(lock_file.read_text())
    binner = Binner.from_json(io.read_json(cached(lock, "annotate", str(paths.BINNER))))
    records = [r for r in io.read_jsonl(cached(lock, "evaluate", str(paths.eval_file("ud")))) if r["set"] == "test"]
    qids = [q["id"] for q in io.read_jsonl(paths.split_file("test"))][:test_size]
    if [r["qid"] for r in records] != qids and sorted(r["qid"] for r in records) != sorted(qids):
        raise SystemExit(f"diagnose_sweep: {lock_file}: the answers are not the first {test_size} test questions")
    m, rows = score_verbal("ud", records, binner)
    out = {k: m.get(k) for k in KEEP}
    out["labels_stated"] = [r["count"] for r in rows]
    out["seconds_per_answer"] = sum(r["seconds"] for r in records) / len(records)
    wanted = set(qids)  # the full run's answer sets and greedy answers (they do not depend on the variant)
    asets = [a for a in io.read_jsonl(paths.answers_file("test")) if a["qid"] in wanted]
    calibrator = Calibrator.from_json(io.read_json(cached(lock, "calibrate", str(paths.CALIBRATOR))))
    t, _ = score_verbal("teacher", teacher.score(asets, calibrator, binner, {}), binner)
    out["teacher"] = {"auroc": t["auroc"], "auroc_raw": t.get("auroc_raw"), "accuracy": t["accuracy"]}
    greedy = [r for r in io.read_jsonl(paths.eval_file("lexical")) if r["set"] == "test" and r["qid"] in wanted]
    out["base_accuracy"] = sum(r["correct"] for r in greedy) / len(greedy)
    return out


def result(name: str, overrides: dict, common: dict, lock_file: Path, test_size: int, minutes: float | None) -> dict:
    """A variant's row, all from its lock: SFT histogram, training loss and time, test metrics (DVC cache)."""
    lock = YAML(typ="safe").load(lock_file.read_text())
    train = io.read_json(cached(lock, "train", str(paths.METRICS / "train" / "metrics.json")))
    return {"variant": name, "overrides": overrides, "common": common, "minutes": minutes,
            "sft": io.read_json(cached(lock, "annotate", str(paths.METRICS / "annotate.json"))),
            "train": {"loss": train["train"]["loss"], "minutes": round(train["train"]["runtime"] / 60, 1)},
            "test": score(lock_file, test_size)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="+", help="name:key=value,... (base: params.yaml as it is)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--test-size", type=int, default=152)
    ap.add_argument("--rescore", action="store_true", help="recompute OUT/<variant>.json's metrics from its lock")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    common = {"prepare.test.questions": a.test_size, "shift.datasets": []}
    if a.rescore:  # rebuild each row from OUT/<name>.dvc.lock (keeping the wall time a run measured)
        for spec in a.variants:
            name, overrides = parse_variant(spec)
            f = a.out / f"{name}.json"
            old = json.loads(f.read_text()) if f.exists() else {}
            row = result(name, overrides or old.get("overrides", {}), old.get("common", common),
                         a.out / f"{name}.dvc.lock", a.test_size, old.get("minutes"))
            f.write_text(json.dumps(row, indent=2) + "\n")
        return
    base_params, base_lock = Path("params.yaml").read_text(), Path("dvc.lock").read_text()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `kill` also stops the variant and restores
    with kept(paths.METRICS):  # outermost: put back after the checkout below
        try:
            for spec in a.variants:
                name, overrides = parse_variant(spec)
                write_params(base_params, {**common, **overrides})
                t0 = time.time()
                log = a.out / f"{name}.log"
                rc = run_group(["dvc", "repro", "evaluate"], log)
                if rc:
                    print(f"{name}: dvc repro failed ({rc}), see {log}", file=sys.stderr)
                    continue
                shutil.copy("dvc.lock", a.out / f"{name}.dvc.lock")
                row = result(name, overrides, common, a.out / f"{name}.dvc.lock", a.test_size,
                             round((time.time() - t0) / 60, 1))
                (a.out / f"{name}.json").write_text(json.dumps(row, indent=2) + "\n")
                t = row["test"]
                print(f"{name}: {row['minutes']} min, AUROC {t['auroc']:.3f} raw {t['auroc_raw']:.3f} "
                      f"acc {t['accuracy']:.3f} labels {t['labels_stated']}", flush=True)
        finally:
            Path("params.yaml").write_text(base_params)
            Path("dvc.lock").write_text(base_lock)
            subprocess.run(["dvc", "checkout", "--force"], check=False)


if __name__ == "__main__":
    main()
