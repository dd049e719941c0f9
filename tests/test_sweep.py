"""`ud sweep` chooses knobs on validation and refuses to score the test split."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ud.cli import app
from ud.errors import DataError, ParamError
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


def test_rows_score_the_validation_answers_only(tmp_path, monkeypatch):
    """A row is the distilled model's and the teacher's binned AUROC on validation, and their paired difference."""
    from ud import io, paths
    from ud.baselines import teacher
    from ud.method.binning import Binner

    shutil.copy(Path(__file__).parents[1] / "params.yaml", tmp_path)  # the params the experiment ran with
    monkeypatch.chdir(tmp_path)
    cost = {"samples": 0, "generated_tokens": 0, "extra_forward_passes": 0}

    def rec(i, b, correct, split="validation"):
        return {"qid": f"v{i}", "answer_key": 0, "correct": correct, "confidence": None, "raw": None, "bin": b,
                "set": split, **cost}

    # the distilled model ranks all 4 perfectly (AUROC 1); the teacher puts one right answer lowest (AUROC 0.625)
    io.write_jsonl(paths.eval_file("ud"), [rec(0, 4, True), rec(1, 3, True), rec(2, 0, False), rec(3, 1, False)])
    monkeypatch.setattr(teacher, "records", lambda split: [rec(0, 4, True), rec(1, 0, True), rec(2, 0, False),
                                                           rec(3, 1, False)])
    io.write_json(paths.BINNER, Binner.fixed(5).to_json())
    io.write_json(paths.METRICS / "annotate.json", {"per_bin": {"low": 3, "high": 5}})
    io.write_jsonl(paths.split_file("validation"), [{"id": f"v{i}", "source": f"toy:part{i}", "question": f"q{i}",
                                                      "choices": ["a", "b"], "answer": 0, "answers": None}
                                                     for i in range(4)])
    r = sweep.row({"bins": "5"})
    assert "by_source" not in r  # one dataset (its parts are not sources): the row is the whole split
    assert (r["n"], r["ud_auroc"], r["teacher_auroc"], r["sft_labels"]) == (4, 1.0, 0.625, {"low": 3, "high": 5})
    assert r["delta_vs_teacher"] == 0.375 and r["delta_ci"][0] <= 0.375 <= r["delta_ci"][1]
    assert r["knobs"]["bins"] == 5 and r["knobs"]["annotate.teach_answers"] == "all" and "train.lora.layers" in r["knobs"]
    assert "| bins=5 | 4 | 1.000 | - / - | 0.625 | +0.375 [" in sweep.table([r])
    assert r["ud_answers"] == {"v0": [4, True], "v1": [3, True], "v2": [0, False], "v3": [1, False]}
    # a validation split of two sources (`ud mix`) is also scored per source: the teacher ranks source b backwards
    io.write_jsonl(paths.split_file("validation"), [{"id": f"v{i}", "source": "ab"[i % 2], "question": f"q{i}",
                                                      "choices": ["a", "b"], "answer": 0, "answers": None}
                                                     for i in range(4)])
    r = sweep.row({"bins": "5"})
    assert r["n"] == 4 and {s: (m["n"], m["ud_auroc"], m["teacher_auroc"], m["delta_vs_teacher"])
                            for s, m in r["by_source"].items()} == {"a": (2, 1.0, 1.0, 0.0), "b": (2, 1.0, 0.0, 1.0)}
    assert "| bins=5 | b | 2 | 1.000 | 0.000 | +1.000" in sweep.source_table([r])
    io.write_jsonl(paths.eval_file("ud"), [rec(0, 4, True, "test")])
    with pytest.raises(ParamError, match=r"scores \['test'\], not validation"):
        sweep.row({"bins": "5"})


def test_rows_score_baselines_by_the_rows_bins_paired_with_student_and_teacher(tmp_path, monkeypatch):
    """`--baselines`: each baseline's probabilities go into the row's bins and are paired against the distilled
    model and the teacher on the same questions, per source too."""
    from ud import io, paths
    from ud.baselines import teacher
    from ud.method.binning import Binner
    from ud.params import load

    shutil.copy(Path(__file__).parents[1] / "params.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)
    cost = {"samples": 0, "generated_tokens": 0, "extra_forward_passes": 0}

    def rec(i, correct, b=None, p=None, **extra):
        return {"qid": f"v{i}", "answer_key": 0, "correct": correct, "confidence": p, "raw": p, "bin": b,
                "set": "validation", **cost, **extra}

    right = [True, True, False, False]
    io.write_jsonl(paths.eval_file("ud"), [rec(i, c, b=b) for i, (c, b) in enumerate(zip(right, [4, 0, 0, 0]))])
    monkeypatch.setattr(teacher, "records", lambda split: [rec(i, c, b=b) for i, (c, b)
                                                           in enumerate(zip(right, [4, 4, 0, 0]))])
    # lexical's probabilities 0.9 / 0.5 / 0.3 / 0.1 fall in fixed-5 bins 4 / 2 / 1 / 0: it ranks all 4 (AUROC 1)
    io.write_jsonl(paths.eval_file("lexical"), [rec(i, c, p=p) for i, (c, p) in enumerate(zip(right, [.9, .5, .3, .1]))])
    # semantic clustering: only the default K is scored (the other K ranks backwards)
    k = load().baselines.semantic.default_k
    io.write_jsonl(paths.eval_file("semantic"), [rec(i, c, p=p, k=kk) for kk, ps in ((k, [.9, .7, .1, .1]),
                                                                                    (k + 1, [.1, .1, .9, .9]))
                                                 for i, (c, p) in enumerate(zip(right, ps))])
    io.write_json(paths.BINNER, Binner.fixed(5).to_json())
    io.write_json(paths.METRICS / "annotate.json", {"per_bin": {"low": 3, "high": 5}})
    io.write_jsonl(paths.split_file("validation"), [{"id": f"v{i}", "source": "ab"[i // 2], "question": f"q{i}",
                                                      "choices": ["a", "b"], "answer": 0, "answers": None}
                                                     for i in range(4)])
    r = sweep.row({"bins": "5"}, ("lexical", "semantic"))
    lex, sem = r["baselines"]["lexical"], r["baselines"]["semantic"]
    assert (lex["n"], lex["auroc"], r["ud_auroc"], r["teacher_auroc"]) == (4, 1.0, 0.75, 1.0)
    assert lex["ud_minus"]["delta"] == -0.25 and lex["teacher_minus"]["delta"] == 0.0
    assert (sem["n"], sem["auroc"]) == (4, 1.0)
    assert r["by_source"]["b"]["baselines"]["lexical"]["n"] == 2  # per source as well
    text = sweep.baseline_table([r])
    assert "| bins=5 | all | lexical | 4 | 1.000 (1.000) | 1.000 (" in text and "| -0.250 [" in text
    assert "| 〃 | all | semantic | 4 |" in text and "| 〃 | b | lexical | 2 |" in text
    result = CliRunner().invoke(app, ["sweep", "-S", "bins=5", "--baselines", "lexical,prompting",
                                      "--out", str(tmp_path / "s.json")])
    assert result.exit_code == 2 and "--baselines prompting" in result.output + str(result.stderr_bytes or b"")


def test_students_of_two_rows_are_paired_on_the_questions_both_answered():
    """Row b's student ranks its answers perfectly, row a's backwards: b − a = +1 on the shared questions; a row
    on other questions, or one that kept no answers, is not paired."""
    a = {"config": {"k": "a"}, "ud_answers": {"q0": [0, True], "q1": [0, True], "q2": [4, False], "q3": [4, False]}}
    b = {"config": {"k": "b"}, "ud_answers": {"q0": [4, True], "q1": [3, False], "q2": [0, False], "q3": [1, True],
                                              "q4": [2, True]}}
    other = {"config": {"k": "c"}, "ud_answers": {f"x{i}": [i, i % 2 == 0] for i in range(4)}}
    pairs = sweep.student_pairs([a, {"config": {"k": "old"}}, b, other])
    assert len(pairs) == 1 and pairs[0]["n"] == 4 and pairs[0]["a"] == {"k": "a"} and pairs[0]["b"] == {"k": "b"}
    # on q0..q3, b's bins 4 / 3 / 0 / 1 against right, wrong, wrong, right: AUROC 0.75; a's 0
    assert pairs[0]["pair"]["delta"] == 0.75 and pairs[0]["accuracy"] == [0.5, 0.5]
    assert "| k=a | k=b | 4 | +0.750 [" in sweep.pairs_table(pairs)


def _aset(qid: str, top_f: float, top_correct: bool) -> dict:
    other = round(1.0 - top_f, 6)
    return {"qid": qid, "n": None, "invalid": 0, "estimator": "exact", "classes": [
        {"key": 0, "index": 0, "count": top_f, "f": top_f, "correct": top_correct, "representative": "A"},
        {"key": 1, "index": 1, "count": other, "f": other, "correct": not top_correct, "representative": "B"}]}


def test_ceilings_score_each_rule_on_validation_before_training(tmp_path, monkeypatch):
    """Top answers right at 0.38 and wrong at 0.30: the paper's fixed 5 bins put both in "low" (the ceiling is
    0.5), while quantile bins over the top answers split them (1.0). The SFT histogram counts the taught labels."""
    from ud import io, paths
    from ud.records import ANSWER_SETS

    monkeypatch.chdir(tmp_path)
    qs = [{"id": f"c{i}", "source": "toy", "question": f"q{i}?", "choices": ["x", "y", "z"], "answer": 0,
           "answers": None} for i in range(20)]
    io.write_jsonl(paths.split_file("calibration"), qs)
    ANSWER_SETS.write(paths.answers_file("calibration"),
                      [_aset(f"c{i}", 0.38 if i % 2 else 0.30, bool(i % 2)) for i in range(20)])
    ANSWER_SETS.write(paths.answers_file("validation"),
                      [_aset(f"v{i}", 0.38 if i % 2 else 0.30, bool(i % 2)) for i in range(10)])
    io.write_jsonl(paths.split_file("validation"), [dict(qs[0], id=f"v{i}", source="toy:a") for i in range(10)])
    rows = sweep.ceilings(["fixed", "quantile_top"], [5], ["none"], incorrect=0, pick="top", seed=0)
    by_rule = {r["annotate.binning"]: r for r in rows}
    assert "by_source" not in by_rule["fixed"]  # one source
    assert by_rule["fixed"]["teacher_auroc"] == 0.5 and by_rule["quantile_top"]["teacher_auroc"] == 1.0
    assert by_rule["fixed"]["teacher_auroc_raw"] == 1.0 and by_rule["fixed"]["n"] == 10
    # incorrect=0: only correct answers are taught, 10 at 0.38 ("low") and 10 at 0.70 ("high", where the top is wrong)
    assert list(by_rule["fixed"]["sft_labels"].values()) == [0, 10, 0, 10, 0]
    assert by_rule["fixed"]["validation_labels"]["low"] == 10
    assert "| none | quantile_top | 5 | 1.000" in sweep.ceiling_table(rows) and by_rule["fixed"]["own_first_token"] is None
    # a second source (`ud mix`), where the teacher's probabilities rank backwards: scored on its own as well
    ANSWER_SETS.write(paths.answers_file("validation"),
                      [_aset(f"v{i}", 0.38 if i % 2 else 0.30, bool(i % 2)) for i in range(10)]
                      + [_aset(f"w{i}", 0.38 if i % 2 else 0.30, not i % 2) for i in range(6)])
    io.write_jsonl(paths.split_file("validation"), [dict(qs[0], id=f"v{i}", source="toy:a") for i in range(10)]
                   + [dict(qs[0], id=f"w{i}", source="other") for i in range(6)])
    rows = sweep.ceilings(["quantile_top"], [5], ["none"], incorrect=0, pick="top", seed=0)
    assert rows[0]["n"] == 16 and rows[0]["by_source"] == {
        "other": {"n": 6, "teacher_auroc": 0.0, "teacher_auroc_raw": 0.0},
        "toy": {"n": 10, "teacher_auroc": 1.0, "teacher_auroc_raw": 1.0}}
    assert "| other: binned (raw) | toy: binned (raw) |" in sweep.ceiling_table(rows)
    assert "| 0.000 (0.000) | 1.000 (1.000) |" in sweep.ceiling_table(rows)


def test_labels_part_at_one_token():
    """" very low" and " very high" share their first token: evaluate would need a scoring pass for the label."""
    vocab: dict[str, int] = {}

    def encode(text):  # one token per word, and per character of a number
        return [vocab.setdefault(t, len(vocab)) for w in text.split(" ") for t in ([" "] + (list(w) if w[:1].isdigit()
                                                                                         else [w]))]

    assert not sweep.own_first_token(encode, ["very low", "low", "medium", "high", "very high"])
    assert sweep.own_first_token(encode, ["0-10%", "10-20%", "20-30%"])  # " ", then 0 / 1 / 2
    assert not sweep.own_first_token(encode, ["0-10%", "10-20%", "15-30%"])  # 1 twice


def test_ceilings_need_the_validation_answers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="normalize@validation"):
        sweep.ceilings(["fixed"], [5], ["none"], incorrect=0, pick="top", seed=0)


def test_the_teachers_probability_of_the_students_answer_matches_options_by_index_and_open_answers_by_key():
    from ud.method.calibrate import Calibrator

    mc = {"qid": "m", "classes": [{"key": "C", "index": 2, "f": 0.6}, {"key": "A", "index": 0, "f": 0.3}]}
    open_q = {"qid": "o", "classes": [{"key": "number:32", "index": None, "f": 0.7}]}
    recs = [{"qid": "m", "answer_key": 0}, {"qid": "m", "answer_key": 2}, {"qid": "m", "answer_key": 3},
            {"qid": "o", "answer_key": "number:32"}, {"qid": "o", "answer_key": "number:31"}]
    assert sweep.teacher_p({"m": mc, "o": open_q}, Calibrator("none"), recs) == [0.3, 0.6, 0.0, 0.7, 0.0]
