"""Stage sample."""

from __future__ import annotations

import time

from tqdm import tqdm

from ud import io
from ud.pipeline.paths import questions, samples_file, samples_meta


def run(p: dict, split: str) -> dict:
    from ud import models
    from ud.backends.hf import HFBackend
    from ud.estimators import draw
    from ud.prompts import Format

    s = p["sample"]
    qs = questions(split)
    fmt = Format.from_params(p)
    model, tok, ref = models.load(p["model"]["id"], dtype=p["model"].get("dtype", "float32"))
    backend = HFBackend(model, tok, chat=fmt.chat)
    n = 1 if s["estimator"] == "exact" else s["n"]
    bar = tqdm(total=len(qs), desc=f"sample {split} ({s['estimator']}, N={n})", unit="q")
    t0 = time.perf_counter()
    tokens = 0

    def progress(q, dt):
        bar.update(1)
        bar.set_postfix(samples_per_s=f"{bar.n * n / (time.perf_counter() - t0):.1f}")

    records = []
    for rec in draw(backend, fmt, qs, s["estimator"], n, p["seed"], s["temperature"], s["top_p"],
                    s["max_new_tokens"], s.get("exact_score", "trie"), progress=progress):
        tokens += rec["n_tokens"] if isinstance(rec["n_tokens"], int) else sum(rec["n_tokens"])
        records.append(rec)
    bar.close()
    wall = time.perf_counter() - t0
    io.write_jsonl(samples_file(split), records)
    meta = {
        "split": split, "questions": len(qs), "estimator": s["estimator"], "n": n,
        "model": {"id": p["model"]["id"], "load_from": ref.load_from, "kind": ref.kind, "revision": ref.revision},
        "backend": backend.name, "device": str(backend.device), "versions": io.versions(),
        "prompt": {**p["prompt"], "example": fmt.prompt(qs[0], tok) if qs else None},
        "generation": {k: s[k] for k in ("temperature", "top_p", "max_new_tokens")}, "seed": p["seed"],
        "wall_seconds": wall, "generated_tokens": tokens,
        "samples_per_second": len(qs) * n / wall if wall else None,
    }
    io.write_json(samples_meta(split), meta)
    print(f"sample {split}: {len(qs)} questions x {n} in {wall:.0f}s ({meta['samples_per_second']:.1f} samples/s)")
    return meta
