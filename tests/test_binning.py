import numpy as np
import pytest

from ud.method.binning import Binner


def test_five_fixed_bins_edges_and_labels():
    b = Binner.fixed(5)
    assert b.labels == ["very low", "low", "medium", "high", "very high"]
    p = [0.0, 0.1999, 0.2, 0.3999, 0.4, 0.6, 0.79, 0.8, 0.999, 1.0, -0.1, 1.5]
    assert b.index(p).tolist() == [0, 0, 1, 1, 2, 3, 3, 4, 4, 4, 0, 4]
    assert b.label([0.85]) == ["very high"]
    assert b.high_bins() == [3, 4]


def test_ten_bins_numeric_labels_and_high():
    b = Binner.fixed(10)
    assert b.labels[0] == "0-10%" and b.labels[-1] == "90-100%"
    assert b.index([0.3]).tolist() == [3]
    assert b.high_bins() == [6, 7, 8, 9]


def test_custom_labels_and_validation():
    b = Binner.fixed(2, ["unsure", "sure"])
    assert b.label([0.49, 0.5]) == ["unsure", "sure"]
    with pytest.raises(ValueError):
        Binner.fixed(3, ["a", "b"])
    with pytest.raises(ValueError):
        Binner([0.0, 0.5, 0.4, 1.0])


def test_quantile_bins_balance_counts():
    p = np.random.default_rng(0).beta(2, 5, size=1000)
    b = Binner.quantile(4, p)
    counts = np.bincount(b.index(p), minlength=4)
    assert counts.min() >= 240 and counts.max() <= 260


def test_values_are_bin_means_and_json_roundtrip():
    b = Binner.fixed(5).fit_values([0.1, 0.15, 0.9])
    assert b.values[0] == pytest.approx(0.125) and b.values[4] == pytest.approx(0.9)
    assert b.values[2] == pytest.approx(0.5)  # empty bin keeps its midpoint
    again = Binner.from_json(b.to_json())
    assert again.values == b.values and again.labels == b.labels


def test_quantile_bins_on_isotonic_steps():
    # a step function with 4 distinct values, as isotonic regression produces
    p = np.repeat([0.1, 0.3, 0.45, 0.6], [100, 100, 100, 100])
    b = Binner.quantile(4, p)
    assert np.bincount(b.index(p), minlength=4).tolist() == [100, 100, 100, 100]
    b5 = Binner.quantile(5, p)  # more bins than distinct values: still 5 bins, one of them empty
    assert b5.n_bins == 5 and sorted(np.bincount(b5.index(p), minlength=5).tolist()) == [0, 100, 100, 100, 100]
    assert b5.labels[0].endswith("%")  # quantile edges get numeric labels unless labels are given


def test_fixed_range_bins_split_the_range_a_top_answer_can_take():
    b = Binner.fixed_range(5, 0.25)
    assert b.edges == [0.0, 0.4, 0.55, 0.7, 0.85, 1.0]
    assert list(b.index([0.1, 0.26, 0.5, 0.99])) == [0, 0, 1, 4]  # below 1/k joins the first bin
    with pytest.raises(ValueError, match="0 < low < 1"):
        Binner.fixed_range(5, 1.0)
