"""Stage greedy: the base model's greedy answers and P(IK) features (lexical, P(True), P(IK), shift read them)."""

from __future__ import annotations

from ud import io
from ud.pipeline.paths import features_file, greedy_file, questions


def base_backend(p: dict):
    from ud.backends import make
    from ud.prompts import Format

    fmt = Format.from_params(p)
    backend, ref = make("hf", p["model"]["id"], chat=fmt.chat, dtype=p["model"].get("dtype", "float32"))
    return backend, fmt, ref


def run(p: dict, split: str, qs: list[dict] | None = None, out: tuple | None = None) -> dict:
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


def cost(recs: list[dict], extra_seconds: float = 0.0, extra_passes: float = 0.0) -> dict:
    """Inference cost per answer of a method built on one greedy answer (+ extra forward passes)."""
    n = max(1, len(recs))
    gen = sum(r["n_tokens"] for r in recs) / n
    return {"forward_passes_per_answer": gen + extra_passes, "generated_tokens_per_answer": gen,
            "seconds_per_answer": sum(r["seconds"] for r in recs) / n + extra_seconds, "samples_per_answer": 1}


def load(split: str) -> list[dict]:
    return list(io.read_jsonl(greedy_file(split)))


def load_features(path):
    from safetensors.numpy import load_file

    return load_file(str(path))["hidden"]
