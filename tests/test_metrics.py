import numpy as np
import pytest

from ud.metrics.scores import auroc, discrete_ece, ece, reliability, summarize


def _auroc_by_hand(s, y):
    pos = [a for a, t in zip(s, y) if t]
    neg = [a for a, t in zip(s, y) if not t]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auroc_on_ties_matches_sklearn_and_hand_count():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, size=200)  # bin indices: lots of ties
    y = (rng.uniform(size=200) < 0.2 + 0.15 * s).astype(int)
    assert auroc(s, y) == pytest.approx(roc_auc_score(y, s))
    assert auroc(s, y) == pytest.approx(_auroc_by_hand(s, y))
    assert auroc([1, 1, 1], [0, 1, 1]) == 0.5
    assert auroc([0, 1], [1, 1]) is None  # one class: undefined, not a number


def test_ece_known_values():
    assert ece([0.9, 0.9, 0.9, 0.9], [1, 1, 1, 0], n_bins=10) == pytest.approx(0.15)
    assert ece([0.2, 0.8], [0, 1], n_bins=2) == pytest.approx(0.2)
    assert discrete_ece([0, 0, 1, 1], [0.1, 0.9], [0, 1, 1, 1]) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)


def test_reliability_rows_mark_small_bins():
    rows = reliability([0] * 12 + [1] * 3, [1] * 6 + [0] * 6 + [1] * 3, ["lo", "hi"], [0.25, 0.75])
    assert rows[0] == {"bin": 0, "label": "lo", "count": 12, "accuracy": 0.5, "mean_confidence": 0.25, "drawn": True}
    assert rows[1]["count"] == 3 and rows[1]["drawn"] is False


def test_summarize_high_and_invalid():
    m, rows = summarize("x", correct=[True, True, False, False], bin_idx=[4, 3, 3, None],
                        labels=["very low", "low", "medium", "high", "very high"],
                        values=[0.1, 0.3, 0.5, 0.7, 0.9], high_bins=[3, 4], answer_invalid=1, confidence_invalid=1)
    assert m["accuracy"] == 0.5
    assert m["high_pct"] == 75.0 and m["high_acc"] == pytest.approx(2 / 3)
    assert m["invalid_rate"] == 0.25 and m["confidence_invalid_rate"] == 0.25
    assert m["auroc"] == pytest.approx(_auroc_by_hand([4, 3, 3, 0], [1, 1, 0, 0]))
    # the unreadable confidence ranks lowest in the AUROC, but stands for no probability: out of Brier and the rows
    assert m["brier"] == pytest.approx(((0.9 - 1) ** 2 + (0.7 - 1) ** 2 + 0.7**2) / 3)
    assert [r["count"] for r in rows] == [0, 0, 0, 2, 1]


def test_report_table_and_figure(tmp_path):
    import json

    from ud.metrics.report import summary_markdown, write

    (tmp_path / "plots").mkdir()
    for name, acc, sec in (("ud", 0.6, 0.5), ("teacher", 0.7, 1.0), ("semantic", 0.65, 4.0)):
        m = {"method": name, "n": 20, "auroc": 0.7, "auroc_ci": [0.55, 0.85], "accuracy": acc, "high_acc": 0.9,
             "high_pct": 45.0, "ece": 0.04, "brier": 0.2, "invalid_rate": 0.0,
             "cost": {"generated_tokens_per_answer": 2.0 if name == "ud" else 40.0}}
        if name == "semantic":
            m.update(k=20, auroc_raw=0.72, by_k={"8": dict(m, auroc=0.61), "20": dict(m)})
        (tmp_path / f"{name}.json").write_text(json.dumps(m))
        rows = [{"bin": 0, "label": "low", "count": 12, "accuracy": 0.3, "mean_confidence": 0.25, "drawn": True},
                {"bin": 1, "label": "high", "count": 8, "accuracy": 0.9, "mean_confidence": 0.75, "drawn": False}]
        (tmp_path / "plots" / f"{name}_reliability.json").write_text(json.dumps(rows))
    (tmp_path / "shift.json").write_text(json.dumps({"obqa": {"ud": m}}))
    md = write(str(tmp_path))  # the metrics stage's summary: results only, no seconds
    assert ("| UD (distilled, 1 generation) | 20 | 0.700 | [0.55, 0.85] | - | 0.600 | 0.900 | 45.0 | 0.040 | 0.200 | "
            "0.000 | - | 2.0 |\n") in md and "| s/answer |" not in md
    assert "semantic clustering (K=20) / distilled model: 20.0x generated tokens" in md
    assert "| semantic clustering | 20 | 0.700 | [0.55, 0.85] | 0.720 |" in md
    assert "| semantic clustering, K=8 | 20 | 0.610 |" in md and "K=20 |" not in md
    ms = [json.loads((tmp_path / f"{n}.json").read_text()) for n in ("ud", "teacher", "semantic")]
    timed = summary_markdown(ms, seconds={"ud": 0.5, "teacher": 1.0, "semantic": 4.0, "semantic_by_k": {"8": 1.6}})
    assert "| 0.000 | - | 2.0 | 0.500 |" in timed and "| semantic clustering, K=8 | 20 | 0.610 |" in timed
    assert timed.splitlines()[5].endswith("| 1.600 |")
    assert "semantic clustering (K=20) / distilled model: 8.0x wall seconds, 20.0x generated tokens" in timed
    assert "| obqa | UD (distilled, 1 generation) | 20 | 0.700 |" in md
    png = (tmp_path / "plots" / "reliability.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_paired_auroc_resamples_the_same_questions_for_both_methods():
    from ud.metrics.scores import auroc, paired_auroc

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = y * 2 + rng.integers(0, 3, 400)  # ranks right answers higher
    noisy = good + rng.integers(0, 6, 400)
    same = paired_auroc((good, y), (good, y))
    assert same["delta"] == 0.0 and same["ci"] == [0.0, 0.0] and same["n"] == 400  # paired: no spread at all
    d = paired_auroc((good, y), (noisy, y))
    assert d["delta"] == pytest.approx(auroc(good, y) - auroc(noisy, y))
    assert 0 < d["ci"][0] < d["delta"] < d["ci"][1]
    with pytest.raises(ValueError, match="pair them by question"):
        paired_auroc((good, y), (good[:10], y[:10]))
    assert paired_auroc((good, np.ones(400)), (good, y)) is None  # one class: no AUROC
