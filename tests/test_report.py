"""README.md's and docs/'s numbers are rendered from the committed files (`ud report --readme`), never typed."""

from __future__ import annotations

import json
from pathlib import Path

from ud.tools import readme as blocks

ROOT = Path(__file__).parents[1]


def test_every_rendered_block_agrees_with_the_committed_files():
    docs = "".join(p.read_text() for p in blocks.documents(ROOT))
    for name, folder in blocks.SWEEPS.items():
        assert blocks._begin(name, folder) in docs and (ROOT / folder / "ceilings.json").exists(), name
    for name, (source, kept) in blocks.BLOCKS.items():
        assert blocks._begin(name, source) in docs or blocks._begin(f"{name}-table", source) in docs, name
        if kept:
            assert (ROOT / source / "ud.json").exists(), f"{source}: the run the text shows is not committed"
            assert (ROOT / kept / "timings.json").exists(), f"{kept}: the run's seconds are not kept"
    assert blocks.render_readme(ROOT, check=True) == []


def test_readme_stays_a_users_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_render_replaces_only_between_the_markers(tmp_path, monkeypatch):
    (tmp_path / "m").mkdir()
    (tmp_path / "kept").mkdir()
    for name, auroc in (("ud", 0.71), ("teacher", 0.8)):
        (tmp_path / "m" / f"{name}.json").write_text(json.dumps(
            {"method": name, "n": 10, "auroc": auroc, "auroc_ci": [0.6, 0.8], "accuracy": 0.5, "high_acc": None,
             "high_pct": 0.0, "ece": 0.1, "brier": 0.2, "invalid_rate": 0.0, "cost": {}}))
    (tmp_path / "m" / "calibration.json").write_text(json.dumps(
        {"method": "isotonic", "points": 798, "positives": 300, "ece_bins": 30, "ece_before": 0.166,
         "ece_after": 0.0, "ece_after_cv": 0.05, "top_accuracy": 0.42, "top_auroc": 0.56}))
    (tmp_path / "m" / "annotate.json").write_text(json.dumps(
        {"examples": 521, "correct": 300, "incorrect": 221, "per_bin": {"very low": 78, "low": 253, "medium": 190}}))
    (tmp_path / "kept" / "timings.json").write_text(json.dumps({"seconds_per_answer": {"ud": 0.25}}))
    monkeypatch.setattr(blocks, "BLOCKS", {"default": ("m", "kept")})
    begin, end = blocks._begin("default", "m"), blocks._end("default")
    tbegin, tend = blocks._begin("default-table", "m"), blocks._end("default-table")
    (tmp_path / "README.md").write_text(f"intro\n{tbegin}\nold\n{tend}\nmid\n")
    (tmp_path / "docs").mkdir()
    doc = tmp_path / "docs" / "runs.md"
    doc.write_text(f"intro\n{begin}\nstale 0.999\n{end}\noutro\n")
    assert blocks.render_readme(tmp_path, check=True) == ["README.md: default-table", "docs/runs.md: default"]
    assert "stale" in doc.read_text()  # check writes nothing
    assert len(blocks.render_readme(tmp_path)) == 2
    assert blocks.render_readme(tmp_path, check=True) == []
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{end}\noutro\n") and "stale" not in text
    assert "| UD (distilled, 1 generation) | 10 | 0.710 |" in text and "| 0.250 |" in text  # kept seconds
    assert "Calibration data: 798 (question, answer) points, 300 right" in text and "0.166 raw, 0.050 after" in text
    assert "SFT set: 521 examples (300 correct, 221 incorrect); per label: very low 78, low 253, medium 190." in text
    table = (tmp_path / "README.md").read_text()
    assert "| UD (distilled, 1 generation) | 10 | 0.710 |" in table and "Calibration data" not in table


def test_the_validation_tables_are_rendered_from_the_kept_rows(tmp_path, monkeypatch):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "ceilings.json").write_text(json.dumps([
        {"calibrate.method": "none", "annotate.binning": "fixed", "bins": 5, "n": 300, "teacher_auroc": 0.686,
         "teacher_auroc_ci": [0.626, 0.741], "teacher_auroc_raw": 0.692, "own_first_token": False,
         "edges": [0, 0.2, 0.4, 0.6, 0.8, 1], "sft_labels": {"very low": 186, "low": 374}}]))
    monkeypatch.setattr(blocks, "SWEEPS", {"v": "s"})
    monkeypatch.setattr(blocks, "BLOCKS", {})
    (tmp_path / "README.md").write_text(f"a\n{blocks._begin('v', 's')}\n{blocks._end('v')}\nb\n")
    assert blocks.render_readme(tmp_path) == ["README.md: v"]
    text = (tmp_path / "README.md").read_text()
    assert "validation n = 300" in text and "| none | fixed | 5 | 0.686 [0.626, 0.741] | 0.692 | no | 0.2 0.4 0.6 0.8 " \
        "| 186 / 374 |" in text and text.endswith(f"{blocks._end('v')}\nb\n") and "ud sweep" not in text
    knobs = {"calibrate.method": "isotonic", "annotate.binning": "fixed", "bins": 10, "annotate.balance": True,
             "incorrect": 1, "annotate.teach_answers": "all", "train.epochs": 1.0}
    (tmp_path / "s" / "fit.json").write_text(json.dumps([
        {"knobs": knobs, "split": "calibration", "n": 96, "ud_auroc": 0.741,
         "ud_auroc_by_label_rule": {"argmax": 0.711, "expected": 0.741}, "teacher_auroc": 0.741, "ud_accuracy": 0.427,
         "teacher_accuracy": 0.448, "spearman_vs_teacher_p": 0.513, "same_bin_as_teacher": 0.177}]))
    assert blocks.render_readme(tmp_path) == ["README.md: v"]
    assert "| calibrate.method=isotonic, annotate.binning=fixed, bins=10, annotate.balance=True, incorrect=1, " \
        "annotate.teach_answers=all, train.epochs=1.0 | 96 | 0.711 / 0.741 | 0.741 | 0.427 | 0.448 | 0.513 | 0.177 |" \
        in (tmp_path / "README.md").read_text()


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
    from ud.tools.scale import rows

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




def test_a_mixs_ceilings_are_rendered_per_source(tmp_path, monkeypatch):
    """`ud ceilings` kept for a `ud mix` folder (mixes/<name>/ceilings.json) is rendered with its per-source
    columns under the run's own ceilings."""
    row = {"calibrate.method": "none", "annotate.binning": "fixed", "bins": 5, "n": 450, "teacher_auroc": 0.681,
           "teacher_auroc_ci": [0.636, 0.727], "teacher_auroc_raw": 0.688, "own_first_token": False,
           "edges": [0, 0.2, 0.4, 0.6, 0.8, 1], "sft_labels": {"very low": 1, "low": 2}}
    (tmp_path / "s" / "mixes" / "m800").mkdir(parents=True)
    (tmp_path / "s" / "ceilings.json").write_text(json.dumps([dict(row, n=300)]))
    (tmp_path / "s" / "mixes" / "m800" / "ceilings.json").write_text(json.dumps([dict(row, by_source={
        "csqa": {"n": 150, "teacher_auroc": 0.64, "teacher_auroc_raw": 0.662},
        "mmlu": {"n": 300, "teacher_auroc": 0.686, "teacher_auroc_raw": 0.692}})]))
    monkeypatch.setattr(blocks, "SWEEPS", {"v": "s"})
    monkeypatch.setattr(blocks, "BLOCKS", {})
    (tmp_path / "README.md").write_text(f"{blocks._begin('v', 's')}\n{blocks._end('v')}\n")
    assert blocks.render_readme(tmp_path) == ["README.md: v"]
    text = (tmp_path / "README.md").read_text()
    assert "validation n = 300" in text and "`m800` mix (validation n = 450)" in text
    assert "| none | fixed | 5 | 0.681 [0.636, 0.727] | 0.688 | 0.640 (0.662) | 0.686 (0.692) | no |" in text
