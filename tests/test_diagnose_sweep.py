"""scripts/diagnose_sweep.py's params handling: a variant changes exactly the keys it names, comments stay."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
spec = importlib.util.spec_from_file_location("diagnose_sweep", ROOT / "scripts" / "diagnose_sweep.py")
sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sweep)


def test_variant_spec_parses_yaml_values():
    assert sweep.parse_variant("base") == ("base", {})
    assert sweep.parse_variant("v:prepare.calibration.questions=200,train.lr=0.0005,shift.datasets=[]") == \
        ("v", {"prepare.calibration.questions": 200, "train.lr": 0.0005, "shift.datasets": []})


def test_write_params_changes_only_the_named_keys(tmp_path, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    base = (ROOT / "params.yaml").read_text()
    sweep.write_params(base, {"incorrect": 0, "prepare.test.questions": 152, "shift.datasets": []})
    new, old = yaml.safe_load(Path("params.yaml").read_text()), yaml.safe_load(base)
    assert new["incorrect"] == 0 and new["prepare"]["test"]["questions"] == 152 and new["shift"]["datasets"] == []
    old["incorrect"], old["prepare"]["test"]["questions"], old["shift"]["datasets"] = 0, 152, []
    assert new == old
    assert "# incorrect answers per question" in Path("params.yaml").read_text()  # comments kept
    with pytest.raises(SystemExit, match="no train.lrr"):
        sweep.write_params(base, {"train.lrr": 1.0})


def test_an_interrupted_variant_leaves_nothing_running(tmp_path):
    """Ctrl-C during a variant stops the whole process group under it -- here a child that ignores SIGINT (as a
    shell's background job does), so the SIGKILL after the grace period is what ends it -- before the interrupt
    goes on to restore params.yaml."""
    import os
    import signal
    import time

    pidfile = tmp_path / "pid"

    def interrupt(*_):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.5)
    t = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            sweep.run_group(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], tmp_path / "log", grace=1.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert time.monotonic() - t < 10
    pid = int(pidfile.read_text())
    for _ in range(50):  # the orphaned sleep is gone (or a zombie waiting for init)
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"the variant's child {pid} still runs after the interrupt")


def test_metrics_folder_is_put_back_after_a_failed_variant(tmp_path):
    """metrics/ is git-tracked, not restored by `dvc checkout`: the sweep keeps a copy and puts it back."""
    metrics = tmp_path / "metrics"
    (metrics / "plots").mkdir(parents=True)
    (metrics / "ud.json").write_text('{"auroc": 0.65}')
    (metrics / "plots" / "ud.json").write_text("[]")
    with pytest.raises(RuntimeError):
        with sweep.kept(metrics):
            (metrics / "ud.json").write_text('{"auroc": 0.61}')  # a variant's run rewrote it
            (metrics / "new.json").write_text("{}")
            raise RuntimeError("dvc repro failed")
    assert (metrics / "ud.json").read_text() == '{"auroc": 0.65}'
    assert sorted(p.relative_to(metrics).as_posix() for p in metrics.rglob("*")) == ["plots", "plots/ud.json",
                                                                                      "ud.json"]
