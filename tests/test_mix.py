"""`ud mix`: the params' own splits with other datasets' questions added, for data.source: jsonl."""

import json

import pytest
from typer.testing import CliRunner

from conftest import QUESTIONS, dataset_folder
from ud.cli import app
from ud.data.sources import make_splits
from ud.errors import ParamError
from ud.params import compose, validate
from ud.tools import mix


def _params(base: str, shift: list[str]):
    return validate(compose({"data": {"source": "jsonl", "dataset": base},
                             "prepare": {"calibration": {"from": "train", "questions": 4},
                                         "validation": {"from": "validation", "questions": 2},
                                         "test": {"from": "test", "questions": 4}},
                             "shift": {"source": "jsonl", "datasets": shift}}))


@pytest.fixture
def folders(tmp_path):
    base = dataset_folder(tmp_path / "base", QUESTIONS, {"train": slice(0, 8), "validation": slice(8, 10),
                                                          "test": slice(10, 14)})
    # another source: 3 new questions and one whose text the base's test split has (all 4 drawn): it is skipped
    other = [{"id": f"other/{i}", "source": f"other:part{i}", "question": f"Which number is {i} more than one?",
              "choices": ["a", "b", "c"], "answer": 0, "answers": None} for i in range(3)]
    other.append(dict(QUESTIONS[10], id="other/dup", source="other", question="  " + QUESTIONS[10]["question"].upper()))
    extra = dataset_folder(tmp_path / "other", other, {"train": slice(0, 4), "validation": slice(0, 4)})
    return base, extra


def test_the_params_splits_come_first_and_added_questions_are_new(folders):
    base, extra = folders
    p = _params(base, shift=[])
    splits = mix.build(p, {"calibration": [(extra, "train", 3)]})
    own = make_splits("jsonl", base, p.prepare.model_dump(by_alias=True), p.seed)
    assert [q["id"] for q in splits["calibration"][:4]] == [q["id"] for q in own["calibration"]]
    assert {q["id"] for q in splits["calibration"][4:]} == {"other/0", "other/1", "other/2"}  # never other/dup
    assert splits["validation"] == own["validation"] and splits["test"] == own["test"]
    with pytest.raises(ParamError, match="only 3 of its 4 questions are not already in a split"):
        mix.build(p, {"calibration": [(extra, "train", 4)]})


def test_a_shift_set_cannot_be_added(folders):
    base, extra = folders
    with pytest.raises(ParamError, match="is a shift set"):
        mix.build(_params(base, shift=[extra]), {"validation": [(extra, "validation", 1)]})


def test_parse():
    assert mix.parse("csqa=150", "train") == ("csqa", "train", 150)
    assert mix.parse("mmlu@validation=400", "train") == ("mmlu", "validation", 400)
    with pytest.raises(ParamError, match="DATASET=N"):
        mix.parse("csqa:150", "train")


def test_the_folder_reproduces_its_splits_through_prepare(folders, tmp_path, monkeypatch):
    """`ud mix` writes the folder and prints settings under which prepare's make_splits draws the same questions
    (each split whole from its own file)."""
    import yaml

    base, extra = folders
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_params(base, []).model_dump(by_alias=True)))
    out = tmp_path / "mixed"
    result = CliRunner().invoke(app, ["mix", str(out), "-c", f"{extra}@train=2", "-v", f"{extra}=1"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "mix.json").read_text())
    assert manifest["questions"] == {"calibration": {"toy": 4, "other": 2}, "validation": {"toy": 2, "other": 1},
                                     "test": {"toy": 4}}
    settings = result.output.split("settings: ")[1].split()
    s = dict(x.split("=", 1) for x in settings if x != "-S")
    assert s["data.source"] == "jsonl" and s["prepare.calibration.questions"] == "6"
    spec = {split: {"from": s.get(f"prepare.{split}.from", split),
                    "questions": int(s.get(f"prepare.{split}.questions", 4))} for split in mix.SPLITS}
    drawn = make_splits("jsonl", s["data.dataset"], spec, seed=0)
    written = {split: [json.loads(line)["id"] for line in open(out / f"{split}.jsonl")] for split in mix.SPLITS}
    assert {k: sorted(q["id"] for q in v) for k, v in drawn.items()} == {k: sorted(v) for k, v in written.items()}
    assert {mix.dataset_of(q["source"]) for q in drawn["validation"]} == {"toy", "other"}


def test_a_folder_is_never_rewritten_with_other_questions(folders, tmp_path, monkeypatch):
    """prepare tracks data.dataset, not the folder's files: the same name must keep meaning the same questions."""
    import yaml

    base, extra = folders
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_params(base, []).model_dump(by_alias=True)))
    out = str(tmp_path / "mixed")
    assert CliRunner().invoke(app, ["mix", out, "-c", f"{extra}@train=2"]).exit_code == 0
    before = (tmp_path / "mixed" / "calibration.jsonl").read_text()
    assert CliRunner().invoke(app, ["mix", out, "-c", f"{extra}@train=2"]).exit_code == 0  # the same: fine
    refused = CliRunner().invoke(app, ["mix", out, "-c", f"{extra}@train=3"])
    assert refused.exit_code == 2 and "holds other questions" in refused.output
    assert (tmp_path / "mixed" / "calibration.jsonl").read_text() == before


def test_a_question_outside_the_schema_is_refused_before_anything_is_written(folders, tmp_path):
    """The folder is read back by prepare as questions: a record that is not one stops `ud mix`, not a later run."""
    from ud.errors import DataError

    base, extra = folders
    p = _params(base, [])
    splits = mix.build(p, {"validation": [(extra, "validation", 1)]})
    splits["validation"][-1] = dict(splits["validation"][-1], choices="a, b, c")
    with pytest.raises(DataError, match="validation question other/.*choices"):
        mix.write(tmp_path / "mixed", splits, {}, p)
    assert not (tmp_path / "mixed").exists()
