import json

import numpy as np
import pytest

from ud.errors import DataError
from ud.method.calibrate import Calibrator, points


def test_isotonic_pools_adjacent_violators():
    # (0.1,0) (0.2,1) (0.3,0) (0.4,1): PAV pools the middle pair to 0.5
    cal = Calibrator("isotonic").fit([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    assert np.allclose(cal([0.1, 0.2, 0.3, 0.4]), [0.0, 0.5, 0.5, 1.0])
    assert np.allclose(cal([0.0, 0.25, 1.0]), [0.0, 0.5, 1.0])  # clipped outside, interpolated inside


def test_isotonic_matches_sklearn_and_roundtrips_json():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(0)
    f = rng.uniform(size=300)
    y = (rng.uniform(size=300) < f**2).astype(float)
    cal = Calibrator("isotonic").fit(f, y)
    ref = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(f, y)
    grid = np.linspace(0, 1, 101)
    assert np.allclose(cal(grid), ref.predict(grid))
    again = Calibrator.from_json(json.loads(json.dumps(cal.to_json())))
    assert np.allclose(again(grid), cal(grid))


def test_platt_recovers_a_known_map():
    rng = np.random.default_rng(1)
    f = rng.uniform(0.01, 0.99, size=20000)
    true_p = 1 / (1 + np.exp(-(2.0 * np.log(f / (1 - f)) - 0.5)))
    y = (rng.uniform(size=f.size) < true_p).astype(float)
    cal = Calibrator("platt").fit(f, y)
    assert cal.state["a"] == pytest.approx(2.0, abs=0.1)
    assert cal.state["b"] == pytest.approx(-0.5, abs=0.1)


def test_identity_and_empty():
    assert np.allclose(Calibrator("none").fit([0.3], [1])([0.3, 1.2]), [0.3, 1.0])
    with pytest.raises(DataError, match="no valid predictions"):
        Calibrator("isotonic").fit([], [])


def test_points_use_every_class():
    sets = [{"classes": [{"f": 0.6, "correct": True}, {"f": 0.3, "correct": False}]},
            {"classes": []}]
    f, y = points(sets)
    assert f.tolist() == [0.6, 0.3] and y.tolist() == [1.0, 0.0]


def test_cross_fitted_is_out_of_sample():
    from ud.method.calibrate import cross_fitted
    from ud.metrics.scores import ece

    rng = np.random.default_rng(0)
    f = rng.uniform(size=2000)
    y = (rng.uniform(size=2000) < f).astype(float)  # already calibrated
    in_sample = Calibrator("isotonic").fit(f, y)(f)
    cv = cross_fitted("isotonic", f, y)
    assert ece(in_sample, y, 30) < 1e-9  # isotonic in-sample: zero by construction
    assert 0.005 < ece(cv, y, 30) < 0.06  # out of fold: small but honest
    assert np.allclose(cross_fitted("none", f, y), f)
