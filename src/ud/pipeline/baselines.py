"""Stage baselines."""

from __future__ import annotations

from ud import io
from ud.pipeline.paths import (
    BINNER,
    CALIBRATOR,
    LEXICAL_CALIBRATOR,
    PIK_PROBE,
    answers_file,
    features_file,
    greedy_file,
    questions,
    samples_meta,
    write_method,
)


def prompting(p: dict) -> dict:
    from ud import models
    from ud.backends.hf import HFBackend
    from ud.baselines import prompting

    model, tok, _ = models.load(p["model"]["id"], dtype=p["model"].get("dtype", "float32"))
    b = p["baselines"]["prompting"]
    metrics, rel, preds = prompting.run(HFBackend(model, tok, chat=True), questions("test"), b["max_new_tokens"],
                                        b["batch_size"], p["normalize"]["equivalence"])
    write_method("prompting", metrics, rel, preds)
    return metrics


def teacher(p: dict) -> dict:
    from ud.baselines import teacher
    from ud.binning import Binner
    from ud.calibrate import Calibrator

    asets = list(io.read_jsonl(answers_file("test")))
    meta = io.read_json(samples_meta("test"))
    n = len(asets) or 1
    cost = {"samples_per_answer": meta["n"] if meta["estimator"] != "exact" else 1,
            "forward_passes_per_answer": meta["generated_tokens"] / n,
            "generated_tokens_per_answer": meta["generated_tokens"] / n if meta["estimator"] != "exact" else 0,
            "seconds_per_answer": meta["compute_seconds"] / n if meta.get("compute_seconds") is not None else None,
            "estimator": meta["estimator"]}
    metrics, rel = teacher.run(asets, Calibrator.from_json(io.read_json(CALIBRATOR)),
                               Binner.from_json(io.read_json(BINNER)), cost)
    write_method("teacher", metrics, rel)
    return metrics


# ---- greedy answers of the base model (lexical, P(True), P(IK) read them) ---------------------------------
def base_backend(p: dict):
    from ud.backends import make
    from ud.prompts import Format

    fmt = Format.from_params(p)
    backend, ref = make("hf", p["model"]["id"], chat=fmt.chat, dtype=p["model"].get("dtype", "float32"))
    return backend, fmt, ref


def greedy(p: dict, split: str, qs: list[dict] | None = None, out: tuple | None = None) -> dict:
    """Greedy answers + P(IK) features for a split (or for given questions written to `out` paths)."""
    from safetensors.numpy import save_file

    from ud.baselines.greedy import answer_features, answer_questions

    g = p["baselines"]["greedy"]
    backend, fmt, _ = base_backend(p)
    qs = questions(split) if qs is None else qs
    recs = answer_questions(backend, fmt, qs, constrain=g["constrain"], max_new_tokens=g["max_new_tokens"],
                            batch_size=g["batch_size"], desc=f"greedy {split}",
                            equivalence=p["normalize"]["equivalence"])
    feats, dt = answer_features(backend, fmt, qs, recs, g["layer"])
    for r in recs:
        r["feature_seconds"] = dt
    rec_path, feat_path = out or (greedy_file(split), features_file(split))
    io.write_jsonl(rec_path, recs)
    feat_path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"hidden": feats.astype("float32")}, str(feat_path))
    acc = sum(r["correct"] for r in recs) / max(1, len(recs))
    print(f"greedy {split}: {len(recs)} answers, accuracy {acc:.3f}, features {feats.shape}")
    return {"accuracy": acc}


def _greedy_cost(recs: list[dict], extra_seconds: float = 0.0, extra_passes: float = 0.0) -> dict:
    n = max(1, len(recs))
    gen = sum(r["n_tokens"] for r in recs) / n
    return {"forward_passes_per_answer": gen + extra_passes, "generated_tokens_per_answer": gen,
            "seconds_per_answer": sum(r["seconds"] for r in recs) / n + extra_seconds, "samples_per_answer": 1}


def lexical(p: dict) -> dict:
    from ud.baselines import lexical as lex

    cal, test = list(io.read_jsonl(greedy_file("calibration"))), list(io.read_jsonl(greedy_file("test")))
    (metrics, rel), calibrator = lex.run(cal, test, p["bins"], _greedy_cost(test))
    io.write_json(LEXICAL_CALIBRATOR, calibrator.to_json())
    write_method("lexical", metrics, rel)
    return metrics


def _load_features(path):
    from safetensors.numpy import load_file

    return load_file(str(path))["hidden"]


def pik(p: dict) -> dict:
    from ud.baselines.pik import Probe
    from ud.baselines.scores import score_method

    cal, test = list(io.read_jsonl(greedy_file("calibration"))), list(io.read_jsonl(greedy_file("test")))
    probe = Probe.fit(_load_features(features_file("calibration")), [r["correct"] for r in cal],
                      c=p["baselines"]["pik"]["C"], seed=p["seed"])
    io.write_json(PIK_PROBE, probe.to_json())
    probs = probe(_load_features(features_file("test")))
    cost = _greedy_cost(test, extra_seconds=test[0]["feature_seconds"] if test else 0.0, extra_passes=1)
    metrics, rel = score_method("pik", test, probs, probs, p["bins"], cost)
    metrics["probe"] = {"C": probe.to_json()["C"], "degenerate": probe.to_json()["degenerate"]}
    write_method("pik", metrics, rel)
    return metrics


def ptrue(p: dict) -> dict:
    import random

    from ud.baselines import ptrue as pt
    from ud.baselines.scores import score_method

    backend, _, _ = base_backend(p)
    cal_q = {q["id"]: q for q in questions("calibration")}
    cal = list(io.read_jsonl(greedy_file("calibration")))
    test, test_q = list(io.read_jsonl(greedy_file("test"))), questions("test")
    rng = random.Random(p["seed"])
    shots = p["baselines"]["ptrue"]["shots"]
    right = [r for r in cal if r["correct"]]
    wrong = [r for r in cal if not r["correct"] and r["answer_index"] is not None]
    picked = rng.sample(right, min(len(right), (shots + 1) // 2)) + rng.sample(wrong, min(len(wrong), shots // 2))
    rng.shuffle(picked)  # balanced True/False examples, in random order
    examples = [(cal_q[r["qid"]], r["text"], r["correct"]) for r in picked]
    scores, dt = pt.run(backend, test_q, test, examples)
    metrics, rel = score_method("ptrue", test, scores, scores, p["bins"],
                                _greedy_cost(test, extra_seconds=dt, extra_passes=1))
    write_method("ptrue", metrics, rel)
    return metrics


def semantic(p: dict) -> dict:
    """K samples per test question through the sampling engine (the test split's cache is shared with
    sample@test, so only samples beyond sample.n are drawn), clustered with the normalizer."""
    import time

    from ud.baselines.scores import score_method
    from ud.baselines.semantic import cluster_answer
    from ud.estimators import draw_unit
    from ud.pipeline.sample import CACHE_DIR, definition
    from ud.sampling import ChunkStore, definition_hash, run_units

    sc = p["baselines"]["semantic"]
    s = dict(p["sample"], estimator="choices" if p["sample"]["estimator"] == "exact" else p["sample"]["estimator"],
             adaptive=dict(p["sample"]["adaptive"], enabled=False))
    q = dict(p, sample=s)
    backend, fmt, ref = base_backend(q)
    spec = definition(q, ref, backend.name)
    store = ChunkStore(CACHE_DIR / "test" / definition_hash(spec), spec)
    qs = questions("test")
    prompts = [fmt.prompt(x, backend.tok) for x in qs]
    kmax = max(sc["k"])

    def compute(batch, ks):
        return draw_unit(backend, fmt, batch, ks, s["estimator"], p["seed"], s["temperature"], s["top_p"],
                         s["max_new_tokens"])

    run = run_units(qs, prompts, kmax, s["chunk"], s["block"], store, compute)
    # cost: K fresh samples per answer, timed on a subset without the cache
    sub = qs[: sc["timing_questions"]]
    t0 = time.perf_counter()
    timing = [draw_unit(backend, fmt, sub[i:i + s["chunk"]], list(range(kmax)), s["estimator"], p["seed"] + 1,
                        s["temperature"], s["top_p"], s["max_new_tokens"]) for i in range(0, len(sub), s["chunk"])]
    per_sample = (time.perf_counter() - t0) / max(1, len(sub) * kmax)
    tokens_per_sample = sum(r["n_tokens"] for t in timing for r in t) / max(1, len(sub) * kmax)
    by_q: dict[str, list[dict]] = {}
    for r in run.records:
        by_q.setdefault(r["qid"], []).append(r)
    require_tags = p["prompt"]["template"] == "reasoning"
    by_k = {}
    for k in sc["k"]:
        recs = [cluster_answer(x, by_q[x["id"]], k, require_tags, p["normalize"]["equivalence"]) for x in qs]
        shares = [r["share"] for r in recs]
        cost = {"samples_per_answer": k, "forward_passes_per_answer": k * tokens_per_sample,
                "generated_tokens_per_answer": k * tokens_per_sample, "seconds_per_answer": k * per_sample}
        by_k[k] = score_method("semantic", recs, shares, shares, p["bins"], cost)
    metrics, rel = by_k[sc["default_k"]]
    metrics = dict(metrics, k=sc["default_k"], by_k={str(k): {key: m[key] for key in (
        "auroc", "auroc_ci", "auroc_raw", "accuracy", "high_acc", "high_pct", "ece", "brier", "invalid_rate", "cost")}
        for k, (m, _) in by_k.items()})
    write_method("semantic", metrics, rel)
    return metrics
