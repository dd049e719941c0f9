"""`ud sweep` chooses knobs on validation and refuses to score the test split."""

import json

import pytest
from typer.testing import CliRunner

from ud.cli import app
from ud.errors import ParamError
from ud.tools import sweep


def test_grid_is_every_combination():
    assert sweep.grid(["bins=5,10", "annotate.binning=fixed,quantile_top"]) == [
        {"bins": "5", "annotate.binning": "fixed"}, {"bins": "5", "annotate.binning": "quantile_top"},
        {"bins": "10", "annotate.binning": "fixed"}, {"bins": "10", "annotate.binning": "quantile_top"}]
    with pytest.raises(ParamError, match="expected key=value"):
        sweep.grid(["bins"])


@pytest.mark.parametrize("setting", ["scored=test", "scored=validation,test", "prepare.test.questions=5",
                                     "shift.datasets=[mmlu]"])
def test_a_sweep_refuses_to_look_at_test(setting, tmp_path):
    result = CliRunner().invoke(app, ["sweep", "-S", "bins=5,10", "-S", setting, "--out", str(tmp_path / "s.json")])
    assert result.exit_code == 2 and "never" in result.output + str(result.stderr_bytes or b"")
    assert not (tmp_path / "s.json").exists()  # refused before any experiment ran


def test_rows_are_read_from_validation_metrics_only(tmp_path):
    ud = {"split": "validation", "n": 300, "auroc": 0.7, "accuracy": 0.6,
          "paired": {"teacher": {"delta": -0.01, "ci": [-0.03, 0.01], "n": 300}}}
    teacher = {"split": "validation", "n": 300, "auroc": 0.71, "accuracy": 0.62}
    (tmp_path / "ud.json").write_text(json.dumps(ud))
    (tmp_path / "teacher.json").write_text(json.dumps(teacher))
    (tmp_path / "annotate.json").write_text(json.dumps({"per_bin": {"low": 3, "high": 5}}))
    r = sweep.row({"bins": "5"}, tmp_path)
    assert (r["ud_auroc"], r["teacher_auroc"], r["delta_vs_teacher"], r["sft_labels"]) == (0.7, 0.71, -0.01,
                                                                                          {"low": 3, "high": 5})
    assert "| bins=5 | 300 | 0.700 | 0.710 | -0.010 [-0.030, +0.010] | 0.600 | 3 / 5 |" in sweep.table([r])
    (tmp_path / "ud.json").write_text(json.dumps(dict(ud, split="test")))
    with pytest.raises(ParamError, match="scores 'test', not validation"):
        sweep.row({"bins": "5"}, tmp_path)
