"""Deps that are computed, not remembered: dvc.yaml lists exactly each stage's import closure and the params its
script reads (ud.tools.deps), and the check fails, naming the stage and the file or key, whenever they differ."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ud.tools import deps

ROOT = Path(__file__).parents[1]


def test_dvc_yaml_lists_exactly_the_computed_deps_and_params():
    assert deps.check("dvc.yaml", ROOT) == []


def _broken(tmp_path, edit) -> list[str]:
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    edit(dvc["stages"])
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc))
    for item in ("stages", "src"):
        (tmp_path / item).symlink_to(ROOT / item)
    return deps.check("dvc.yaml", tmp_path)


def test_a_removed_dep_or_param_is_named_with_its_stage(tmp_path):
    def edit(stages):
        stages["annotate"]["deps"].remove("src/ud/method/calibrate.py")
        stages["annotate"]["params"].remove("bins")
        stages["sample"]["do"]["deps"].remove("src/ud/engines/hf.py")
    assert sorted(_broken(tmp_path, edit)) == [
        "annotate: imports src/ud/method/calibrate.py but does not list it in deps",
        "annotate: reads param bins but does not list it",
        "sample: imports src/ud/engines/hf.py but does not list it in deps"]


def test_listing_more_than_is_read_is_reported_too(tmp_path):
    """An extra param or code dep reruns a stage for nothing: a sweep must pay only for what it changes."""
    def edit(stages):
        stages["lexical"]["params"].append("bins")
        stages["train"]["deps"].insert(0, "src/ud/sampling/units.py")
    assert sorted(_broken(tmp_path, edit)) == ["lexical: lists param bins but does not read it",
                                               "train: lists src/ud/sampling/units.py in deps but does not import it"]


def test_closures_stay_small():
    train = deps.code_closure("stages/train.py", ROOT)
    assert "src/ud/sampling/units.py" not in train and "src/ud/engines/hf.py" not in train
    assert "src/ud/method/train.py" in train and "src/ud/__init__.py" in train
    assert not any("engines" in f for f in deps.code_closure("stages/lexical.py", ROOT))
    assert "src/ud/method/calibrate.py" in deps.code_closure("stages/annotate.py", ROOT)


def test_a_stage_depends_only_on_the_engines_it_calls_and_never_on_tooling():
    """metrics scores saved records (no engine); normalize's judge runs on the local HF engine only; sampling
    may reach every engine through the one constructor. No stage imports the repository tooling (ud.tools)."""
    closures = {f.stem: deps.code_closure(f"stages/{f.name}", ROOT) for f in (ROOT / "stages").glob("*.py")}
    assert not any("/engines/" in f for f in closures["metrics"])
    engines = {f for f in closures["normalize"] if "/engines/" in f}
    assert "src/ud/engines/hf.py" in engines and not engines & {"src/ud/engines/vllm.py", "src/ud/engines/openai.py"}
    assert {"src/ud/engines/vllm.py", "src/ud/engines/openai.py"} <= set(closures["sample"])
    for stage, files in closures.items():
        assert not any(f.startswith("src/ud/tools/") for f in files), stage


def test_params_read_follows_attribute_chains(tmp_path):
    (tmp_path / "s.py").write_text("def main(p):\n    s = p.sample\n    x = p.baselines.pik.C + p.bins\n"
                                   "    return p.train.model_dump(), p.sample.n\n")
    assert deps.params_read("s.py", tmp_path) == ["baselines.pik.C", "bins", "sample", "train"]
    (tmp_path / "t.py").write_text("def main(p):\n    return helper(p)\n")
    with pytest.raises(ValueError, match="t.py:2: the params object `p` is used whole"):
        deps.params_read("t.py", tmp_path)
    (tmp_path / "u.py").write_text("def main(p):\n    return p.nope\n")
    with pytest.raises(ValueError, match="p.nope is not a params key"):
        deps.params_read("u.py", tmp_path)


def test_write_restores_what_was_removed(tmp_path):
    text = (ROOT / "dvc.yaml").read_text()
    (tmp_path / "dvc.yaml").write_text(text.replace("      - src/ud/method/calibrate.py\n", "", 1))
    for item in ("stages", "src"):
        (tmp_path / item).symlink_to(ROOT / item)
    assert deps.check("dvc.yaml", tmp_path)
    assert deps.write("dvc.yaml", tmp_path)
    assert deps.check("dvc.yaml", tmp_path) == []
    assert (tmp_path / "dvc.yaml").read_text() == text  # comments and layout kept
