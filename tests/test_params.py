import copy
from pathlib import Path

import pytest
import yaml

from ud import models, params
from ud.errors import ParamError

DEFAULT = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())


def _with(**changes):
    p = copy.deepcopy(DEFAULT)
    for dotted, v in changes.items():
        cur = p
        *head, last = dotted.split("__")
        for h in head:
            cur = cur[h]
        cur[last] = v
    return p


def test_committed_params_are_valid():
    assert params.validate(copy.deepcopy(DEFAULT)) is not None


@pytest.mark.parametrize("changes,message", [
    ({"bins": 1}, "bins=1: must be >= 2"),
    ({"bins": "five"}, "bins='five': expected an integer"),
    ({"n": 50}, "n=50: must be <= sample.n (20)"),
    ({"incorrect": -1}, "incorrect=-1: must be >= 0"),
    ({"sample__estimator": "magic"}, "sample.estimator='magic': expected one of"),
    ({"calibrate__method": "beta"}, "calibrate.method='beta'"),
    ({"annotate__labels": ["a", "b"]}, "expected null or a list of 5"),
    ({"prompt__answer": "letter"}, "needs the options in the prompt"),
    ({"sample__temperature": 0}, "sample.temperature=0: must be > 0.0"),
])
def test_invalid_params_name_key_value_and_rule(changes, message):
    with pytest.raises(ParamError, match=message.replace("(", r"\(").replace(")", r"\)")):
        params.validate(_with(**changes))


def test_unknown_model_is_rejected_before_loading(tmp_path):
    with pytest.raises(ParamError, match="not a packaged alias"):
        models.resolve("no-such-model")
    with pytest.raises(ParamError, match="HF_HUB_OFFLINE=1 and it is not in the HF cache"):
        models.resolve("nobody/no-such-model-xyz")
    with pytest.raises(ParamError, match="no config.json"):
        models.resolve(str(tmp_path))


def test_unknown_dataset_is_rejected():
    from ud.sources import check_dataset

    with pytest.raises(ParamError, match="not an offline task"):
        check_dataset("olmo", "arc_hard")
    with pytest.raises(ParamError, match="no such file"):
        check_dataset("jsonl", "/nonexistent/file.jsonl")
