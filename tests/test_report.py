"""The README's results are rendered from the metrics files (`ud report --readme`), never typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

from ud import readme as blocks

ROOT = Path(__file__).parents[1]


def test_readme_results_agree_with_the_committed_metrics():
    text = (ROOT / "README.md").read_text()
    for name, folder in blocks.README_BLOCKS.items():
        assert blocks._begin(name, folder) in text and blocks._end(name) in text, name
        if not folder.endswith((".yaml", "diagnosis")):
            assert (ROOT / folder / "ud.json").exists(), f"{folder}: the run the README shows is not committed"
    assert blocks.render_readme(ROOT / "README.md", ROOT, check=True) == []


def test_render_replaces_only_between_the_markers(tmp_path):
    (tmp_path / "m").mkdir()
    for name, auroc in (("ud", 0.71), ("teacher", 0.8)):
        (tmp_path / "m" / f"{name}.json").write_text(json.dumps(
            {"method": name, "n": 10, "auroc": auroc, "auroc_ci": [0.6, 0.8], "accuracy": 0.5, "high_acc": None,
             "high_pct": 0.0, "ece": 0.1, "brier": 0.2, "invalid_rate": 0.0, "cost": {}}))
    (tmp_path / "m" / "calibration.json").write_text(json.dumps(
        {"method": "isotonic", "points": 798, "positives": 300, "ece_bins": 30, "ece_before": 0.166,
         "ece_after": 0.0, "ece_after_cv": 0.05, "top_accuracy": 0.42, "top_auroc": 0.56}))
    (tmp_path / "m" / "annotate.json").write_text(json.dumps(
        {"examples": 521, "correct": 300, "incorrect": 221, "per_bin": {"very low": 78, "low": 253, "medium": 190}}))
    readme = tmp_path / "README.md"
    begin, end = blocks._begin("default", "m"), blocks._end("default")
    readme.write_text(f"intro\n{begin}\nstale 0.999\n{end}\noutro\n")
    old = blocks.README_BLOCKS
    blocks.README_BLOCKS = {"default": "m"}
    try:
        assert blocks.render_readme(readme, tmp_path, check=True) == ["default"]
        assert "stale" in readme.read_text()  # check writes nothing
        assert blocks.render_readme(readme, tmp_path) == ["default"]
        assert blocks.render_readme(readme, tmp_path, check=True) == []
    finally:
        blocks.README_BLOCKS = old
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{end}\noutro\n") and "stale" not in text
    assert "| UD (distilled, 1 generation) | 10 | 0.710 |" in text
    assert "Calibration data: 798 (question, answer) points, 300 right" in text and "0.166 raw, 0.050 after" in text
    assert "SFT set: 521 examples (300 correct, 221 incorrect); per label: very low 78, low 253, medium 190." in text


def test_a_partial_run_never_shows_a_missing_methods_leftover_file(tmp_path):
    row = {"n": 10, "auroc": 0.7, "auroc_ci": [0.6, 0.8], "accuracy": 0.5, "high_acc": None, "high_pct": 0.0,
           "ece": 0.1, "brier": 0.2, "invalid_rate": 0.0, "cost": {}}
    for name in ("ud", "ptrue"):  # ptrue.json: left from another run
        (tmp_path / f"{name}.json").write_text(json.dumps(dict(row, method=name)))
    (tmp_path / "shift.json").write_text(json.dumps({"socialiqa": {"ud": dict(row, method="ud"),
                                                                   "ptrue": dict(row, method="ptrue")}}))
    assert "| P(True) |" in blocks.results_block(tmp_path)
    (tmp_path / "partial.json").write_text(json.dumps({"methods": ["ud"], "missing": ["ptrue"]}))
    text = blocks.results_block(tmp_path)
    assert "P(True)" not in text and "| socialiqa | UD (distilled, 1 generation) |" in text
    assert "Partial run: ptrue did not finish" in text


def test_stage_times_line_adds_the_stages_an_earlier_run_computed():
    t = {"stages_s": {"sample": 6, "train": 600, "evaluate": 1200}, "total_s": 1806, "exit": 0,
         "reused": {"from": "run2/stage_times.json", "stages_s": {"sample": 900}}, "total_with_reused_s": 2700}
    line = blocks.stage_times_line(t)
    assert line.startswith("Wall time per stage, min (`scripts/timed_repro.sh`): sample 0.1, train 10.0, evaluate 20.0;"
                           " total 30.1 min.")
    assert "sample did not rerun (an earlier run's outputs or cache); measured in that run (run2/stage_times.json): " \
           "sample 15.0 min, so from scratch: 45.0 min." in line
    stopped = blocks.stage_times_line({"stages_s": {"train": 60}, "total_s": 60, "exit": 137})
    assert stopped == "Wall time per stage, min (`scripts/timed_repro.sh`): train 1.0; total 1.0 min (stopped: exit 137)."


def test_scale_arithmetic_from_its_inputs(tmp_path):
    from ud.scale import rows

    spec = {"gpus": [1, 8], "questions": {"calibration": 1000, "test": 10}, "n": 50, "incorrect": 2,
            "prompt_tokens": 100, "max_new_tokens": 20, "stages": {
                "sample": {"work": "calibration x n", "unit": "samples", "gpu_hours": 10, "source": "s",
                           "parallel": "data"},
                "train": {"work": "calibration x (1 + incorrect)", "unit": "examples", "gpu_hours": 2,
                          "source": "s", "parallel": "ddp"},
                "semantic": {"work": "test x n", "unit": "samples", "rate_of": "sample", "source": "s",
                             "parallel": "data"}}}
    r = {x["stage"]: x for x in rows(spec)}
    assert r["sample"]["work"] == 50_000 and r["sample"]["tokens"] == 50_000 * 120
    assert r["sample"]["wall_hours"] == {1: 10.0, 8: 1.25}
    assert r["train"]["work"] == 3000 and r["train"]["tokens"] is None
    assert r["semantic"]["work"] == 500 and abs(r["semantic"]["gpu_hours"] - 500 / 50_000 * 10) < 1e-12


def test_diagnosis_table_from_the_sweep_files(tmp_path):
    def run(variant, overrides, auroc, steps):
        return {"variant": variant, "overrides": overrides, "common": {"prepare.test.questions": 152, "shift.datasets": []},
                "minutes": 20.0, "sft": {"examples": 400, "per_bin": {"a": 80, "b": 320}},
                "train": {"loss": 0.3, "minutes": 11.5, "steps": steps},
                "test": {"auroc": auroc, "auroc_ci": [0.6, 0.7], "auroc_bin_argmax": 0.61, "auroc_raw": 0.7,
                         "accuracy": 0.42, "labels_stated": [1, 151],
                         "teacher": {"auroc": 0.65, "auroc_raw": 0.69}, "base_accuracy": 0.41}}
    (tmp_path / "lr.json").write_text(json.dumps(run("lr", {"train.lr": 0.0005}, 0.655, 200)))
    (tmp_path / "base.json").write_text(json.dumps(run("base", {}, 0.677, 100)))
    text = blocks.diagnosis_block(tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "variant" not in line]
    assert rows[0] == ("| base | (as in params.yaml) | 400 | 80/320 | 0.300 | 11.5 | 0.677 [0.60, 0.70] | "
                       "0.610 | 0.700 | 0.420 | 1/151 | 0.650 / 0.690 | 0.410 |")
    assert rows[1].startswith("| lr | `train.lr=0.0005` |") and "| 0.655 [0.60, 0.70] |" in rows[1]
    assert "the first 152 questions of the test split" in text
