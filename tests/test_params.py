import copy
from pathlib import Path

import pytest
import yaml

from ud import params
from ud.engines import models
from ud.errors import ParamError, UDError

ROOT = Path(__file__).parents[1]
DEFAULT = yaml.safe_load((ROOT / "params.yaml").read_text())


def _with(**changes):
    p = copy.deepcopy(DEFAULT)
    for dotted, v in changes.items():
        cur = p
        *head, last = dotted.split("__")
        for h in head:
            cur = cur[h]
        cur[last] = v
    return p


def test_committed_params_are_valid_and_typed():
    p = params.validate(copy.deepcopy(DEFAULT))
    assert p.sample.n == DEFAULT["sample"]["n"] and p.prepare.test.from_ == DEFAULT["prepare"]["test"]["from"]
    with pytest.raises(Exception):
        p.bins = 3  # stages read params, never write them


@pytest.mark.parametrize("changes,message", [
    ({"bins": 1}, "bins=1: must be >= 2"),
    ({"bins": "five"}, "bins='five': expected an integer"),
    ({"bins": True}, "bins=True: expected an integer"),
    ({"n": 50}, "n=50: must be <= sample.n (20)"),
    ({"incorrect": -1}, "incorrect=-1: must be >= 0"),
    ({"sample__estimator": "magic"}, "sample.estimator='magic': expected one of 'free', 'choices' or 'exact'"),
    ({"calibrate__method": "beta"}, "calibrate.method='beta'"),
    ({"annotate__labels": ["a", "b"]}, "expected null or a list of 5"),
    ({"prompt__answer": "letter"}, "needs the options in the prompt"),
    ({"sample__temperature": 0}, "sample.temperature=0: must be > 0"),
    ({"model__dtype": "fp8"}, "model.dtype='fp8': expected one of 'float32', 'bfloat16' or 'float16'"),
    ({"train__lrr": 0.1}, "train.lrr: unknown key (did you mean 'train.lr'?)"),
    ({"baselines__pik__C": -1}, "baselines.pik.C=-1: expected one of 'cv' or must be > 0"),
    ({"baselines__semantic__default_k": 3}, "default_k=3: must be one of k [5, 10, 20]"),
    ({"prepare__test__from": 3}, "prepare.test.from=3: expected a string"),
])
def test_invalid_params_name_key_value_and_rule(changes, message):
    with pytest.raises(ParamError) as e:
        params.validate(_with(**changes))
    assert message in str(e.value)


def test_a_server_backend_never_falls_back_to_local_weights_silently():
    """Behind an OpenAI-compatible server, the stages that need logits, hidden states, a trie or the trained model
    are named at validation (so `ud validate` and every stage start stop), and run through hf only when
    model.local_scoring says so."""
    from ud.engines.registry import build_backend, engine_for, sampling_scores

    with pytest.raises(ParamError) as e:
        params.validate(_with(model__backend="openai", model__base_url="http://localhost:8000"))
    msg = str(e.value)
    for stage in ("sample, semantic and teacher_shift (sample.estimator='choices')", "greedy_calibration", "ptrue",
                  "evaluate"):
        assert stage in msg
    assert "model.local_scoring: true" in msg
    with pytest.raises(ParamError) as e:  # free sampling goes to the server: only the stages after it are named
        params.validate(_with(model__backend="openai", sample__estimator="free"))
    assert "sample, semantic" not in str(e.value) and "greedy_calibration" in str(e.value)
    p = params.validate(_with(model__backend="openai", model__local_scoring=True))
    assert engine_for(p.model, scoring=True) == "hf" and engine_for(p.model, scoring=False) == "openai"
    assert sampling_scores(p.model, "choices") and sampling_scores(p.model, "exact")
    assert not sampling_scores(p.model, "free")
    hf = params.validate(_with()).model
    assert not sampling_scores(hf, "choices")  # hf and vLLM walk the trie themselves
    off = p.model.model_copy(update={"local_scoring": False})  # a library caller that skipped validation
    with pytest.raises(UDError, match="model.local_scoring: true"):
        engine_for(off, scoring=True)
    with pytest.raises(UDError, match="model.local_scoring: true"):
        build_backend(off, chat=False, trained="models/ud")


def test_a_served_trained_model_takes_evaluate_over_http():
    """model.served_trained: the server holds the distilled model, so evaluate is no longer named among the local
    stages; it cannot walk the options x labels trie there (evaluate.constrain must be false)."""
    from ud.engines.openai import OpenAIBackend
    from ud.engines.registry import build_backend

    served = dict(model__backend="openai", model__base_url="http://localhost:8000", sample__estimator="free",
                  model__served_trained="ud")
    with pytest.raises(ParamError, match="set evaluate.constrain: false"):
        params.validate(_with(**served))
    with pytest.raises(ParamError) as e:
        params.validate(_with(**served, evaluate__constrain=False))
    assert "greedy_calibration" in str(e.value) and "evaluate" not in str(e.value)
    p = params.validate(_with(**served, evaluate__constrain=False, model__local_scoring=True))
    backend, _ = build_backend(p.model, chat=False, trained="models/ud")
    assert isinstance(backend, OpenAIBackend) and backend.model_name == "ud"
    scoring, _ = build_backend(p.model, chat=False, scoring=True)
    assert scoring.name == "hf"


def test_every_knob_must_be_in_the_file():
    raw = copy.deepcopy(DEFAULT)
    del raw["train"]["scheduler"]
    with pytest.raises(ParamError, match=r"missing keys .*train\.scheduler \(default: 'linear'\)"):
        params.validate(raw)


def test_every_knob_has_a_meaning():
    rows = params.describe()
    assert len(rows) > 60 and all(meaning for _, _, _, meaning in rows)
    assert ("train.warmup_steps", "int", "0") == rows[[r[0] for r in rows].index("train.warmup_steps")][:3]


def test_unknown_model_is_rejected_before_loading(tmp_path):
    with pytest.raises(ParamError, match="not a packaged alias"):
        models.resolve("no-such-model")
    with pytest.raises(ParamError, match="HF_HUB_OFFLINE=1 and it is not in the HF cache"):
        models.resolve("nobody/no-such-model-xyz")
    with pytest.raises(ParamError, match="no config.json"):
        models.resolve(str(tmp_path))


def test_unknown_dataset_is_rejected():
    from ud.data.sources import check_dataset

    with pytest.raises(ParamError, match="not an offline task"):
        check_dataset("olmo", "arc_hard")
    with pytest.raises(ParamError, match="no such file"):
        check_dataset("jsonl", "/nonexistent/file.jsonl")


def test_no_knob_has_a_name_dvc_leaves_out_of_the_run_cache_key():
    """DVC drops keys named `size` / `nfiles` from a stage's run-cache key, at any depth, params included (seen here:
    `prepare.calibration.size` 400 -> 200 restored the 400-question split from the run cache). A knob so named would
    make such a change a silent no-op, so none is."""
    from dvc.stage.cache import _get_cache_hash

    def entry(size):
        return {"cmd": "python stages/prepare.py", "params": {"params.yaml": {"prepare": {"test": {"size": size}}}}}

    assert _get_cache_hash(entry(300), key=True) == _get_cache_hash(entry(152), key=True)  # still so in this DVC
    names = {path.split(".")[-1] for path, *_ in params.describe()}
    assert "questions" in names and not names & set(params.RUN_CACHE_BLIND)


def test_the_old_size_key_says_what_it_became():
    raw = copy.deepcopy(DEFAULT)
    raw["prepare"]["test"] = {"from": "test", "size": 200}
    with pytest.raises(ParamError, match="`size` is now `questions`"):
        params.validate(raw)


def test_params_yaml_holds_the_code_defaults():
    """One copy of the defaults: the committed params.yaml is the defaults of src/ud/params.py, value for value."""
    from ud.params import defaults

    committed = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert committed == defaults()


def test_profiles_are_overlays_that_compose_over_the_defaults(tmp_path, monkeypatch):
    """Every profile holds only what differs from the defaults, and `ud profile` composes it: a default changed in
    the code reaches every profile, and the written params.yaml validates."""
    from typer.testing import CliRunner

    from ud.cli import app
    from ud.params import compose, defaults, load

    base = defaults()
    for f in sorted((ROOT / "profiles").glob("*.yaml")):
        overlay = yaml.safe_load(f.read_text()) or {}

        def same_as_default(node, ref, key=""):
            for k, v in node.items():
                if isinstance(v, dict) and isinstance(ref.get(k), dict):
                    same_as_default(v, ref[k], f"{key}{k}.")
                else:
                    assert v != ref.get(k), f"{f.name}: {key}{k} repeats its default {v!r}"

        same_as_default(overlay, base)
        monkeypatch.chdir(ROOT)
        out = tmp_path / f"{f.stem}.yaml"
        res = CliRunner().invoke(app, ["profile", f.stem, "--params", str(out)])
        assert res.exit_code == 0, res.output
        assert yaml.safe_load(out.read_text()) == compose(overlay)
        load(out)  # validates
    # a changed default reaches a profile that does not set it
    assert compose({"bins": 10}, dict(base, incorrect=2))["incorrect"] == 2
