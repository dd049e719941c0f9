import gzip

import pytest

from ud import io
from ud.backends.hf import HFBackend
from ud.baselines import teacher
from ud.binning import Binner
from ud.calibrate import Calibrator
from ud.errors import DataError
from ud.evaluate import predict
from ud.metrics import score_verbal
from ud.prompts import Format


def _aset(f_top, correct):
    return {"qid": "q", "classes": [{"key": "A", "f": f_top, "correct": correct}] if f_top is not None else []}


COST = {"samples": 20, "generated_tokens": 100, "extra_forward_passes": 0, "seconds": 0.5}


def test_teacher_uses_top_class_calibrated_and_binned():
    sets = [_aset(0.95, True), _aset(0.9, True), _aset(0.5, False), _aset(0.1, False), _aset(None, False)]
    recs = teacher.score(sets, Calibrator("none"), Binner.fixed(5), COST)
    m, rows = score_verbal("teacher", recs, Binner.fixed(5))
    assert m["n"] == 5 and m["accuracy"] == pytest.approx(0.4)
    assert [r["count"] for r in rows] == [2, 0, 1, 0, 2]  # the all-invalid question sits in the lowest bin
    assert m["auroc"] == pytest.approx(1.0) and m["high_acc"] == 1.0 and m["high_pct"] == 40.0
    assert m["invalid_rate"] == pytest.approx(0.2) and m["cost"]["samples_per_answer"] == 20
    assert m["auroc_raw"] == pytest.approx(1.0)  # the frequency itself, before binning


def test_unknown_calibrator_method_is_an_error_not_the_identity():
    with pytest.raises(DataError, match="unknown calibrator method 'isotonik'"):
        Calibrator.from_json({"method": "isotonik", "state": {}})


def test_constrained_prediction_is_always_an_option_and_a_label(tiny, questions):
    model, tok = tiny
    labels = Binner.fixed(5).labels
    preds = predict(HFBackend(model, tok), Format("qa"), questions[:6], labels, ud=True, constrain=True,
                    max_new_tokens=40, batch_size=4)
    assert len(preds) == 6
    for p, q in zip(preds, questions):
        assert p["answer_key"] is not None and p["label"] in labels
        assert p["text"] == f" {q['choices'][p['answer_key']]}\nConfidence: {p['label']}"
        assert p["correct"] == (p["answer_key"] == q["answer"])
    m, _ = score_verbal("ud", preds, Binner.fixed(5))
    assert m["invalid_rate"] == 0.0 and m["confidence_invalid_rate"] == 0.0
    assert m["cost"]["generated_tokens_per_answer"] == pytest.approx(sum(p["generated_tokens"] for p in preds) / 6)


def test_unconstrained_random_model_output_is_counted_invalid(tiny, questions):
    model, tok = tiny
    preds = predict(HFBackend(model, tok, chat=True), Format("reasoning", "letter", True), questions[:3],
                    Binner.fixed(5).labels, ud=True, max_new_tokens=8)
    assert [p["answer_key"] for p in preds] == [None, None, None]  # no <answer> tags from a random model
    m, _ = score_verbal("x", preds, Binner.fixed(5))
    assert (m["invalid_rate"], m["confidence_invalid_rate"], m["accuracy"]) == (1.0, 1.0, 0.0)


def test_jsonl_roundtrip_atomic_and_reproducible_gzip(tmp_path):
    recs = [{"a": 1, "t": "é"}, {"a": 2}]
    f = tmp_path / "x.jsonl.gz"
    assert io.write_jsonl(f, recs) == 2
    first = f.read_bytes()
    io.write_jsonl(f, recs)
    assert f.read_bytes() == first  # no timestamp in the gzip header: stable DVC hashes
    assert list(io.read_jsonl(f)) == recs
    assert [p.name for p in tmp_path.iterdir()] == ["x.jsonl.gz"]  # no temp files left behind
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DataError, match="bad.jsonl:2: not valid JSON"):
        list(io.read_jsonl(bad))
    with pytest.raises(DataError, match="does not exist"):
        list(io.read_jsonl(tmp_path / "missing.jsonl"))
    assert gzip.decompress(first).decode().count("\n") == 2
