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
