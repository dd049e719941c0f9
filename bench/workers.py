"""Sampling on Ray workers: samples/s for 1 worker against 2 (and more), in one run, on this machine.

    python bench/workers.py                          # SmolLM2-135M, ARC-Easy, choices estimator, N=20, 16 questions
    python bench/workers.py --workers 1 2 4 --questions 32

Every configuration draws the same units (through the one door, ud.sampling.draws.draw, into a fresh cache) with the
cores split between workers (torch threads per worker = cores // workers); "in-process" is the default path without
Ray, with all cores. Ratios against 1 Ray worker are what to read (machines are noisy). The last column is a hash
of the draws: on CPU the torch thread count is part of the numerics (matmul blocking), so draws are identical for
any number of workers *at the same threads per worker* -- the extra row "ray x1, 1 thread" shows it against 2
workers of 1 thread each.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from functools import partial

from ud.data import sources
from ud.data.prompts import Format
from ud.engines.registry import build_backend
from ud.params import Params
from ud.sampling.draws import draw
from ud.sampling.estimators import DrawSetting, unit_drawer
from ud.sampling.ray_pool import RayPool


def run(qs, prompts, p, compute=None, pool=None) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:  # a fresh cache each: the numerics of the configurations differ
        t0 = time.perf_counter()
        r = draw(qs, prompts, p.sample.n, tmp, {}, chunk=p.sample.chunk, block=p.sample.block, numerics={},
                 compute=compute, pool=pool)
        wall = time.perf_counter() - t0
    digest = hashlib.sha256("\n".join(json.dumps(x, sort_keys=True) for x in r.records).encode()).hexdigest()
    return wall, digest[:12]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--dataset", default="arc_easy")
    ap.add_argument("--questions", type=int, default=16)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=2, help="questions per unit (units are what workers share)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()

    p = Params.model_validate({"model": {"id": a.model}, "n": a.n,
                               "prompt": {"template": "qa", "answer": "text"},
                               "sample": {"estimator": "choices", "n": a.n, "chunk": a.chunk, "block": a.n}})
    import torch

    cores = os.cpu_count() or 1
    qs = sources.load_questions("olmo", a.dataset, "train")[: a.questions]
    fmt = Format.from_params(p.prompt)
    backend, _ = build_backend(p.model, chat=fmt.chat)  # the in-process path, and the tokenizer for the prompts
    prompts = [fmt.prompt(q, backend.tok) for q in qs]
    samples = len(qs) * a.n
    print(f"{a.model}, {a.dataset}: {len(qs)} questions x N={a.n} (choices), units of {a.chunk} questions; "
          f"{cores} cores")
    torch.set_num_threads(cores)
    wall, digest = run(qs, prompts, p, compute=unit_drawer(DrawSetting(p.model, p.prompt, p.sample, p.seed), backend))
    rows = [("in-process", cores, wall, digest)]
    configs = [(w, max(1, cores // w)) for w in a.workers]
    if 1 in a.workers and cores > 1:
        configs.insert(1, (1, 1))
    for w, threads in configs:
        pool = RayPool(partial(unit_drawer, DrawSetting(p.model, p.prompt, p.sample, p.seed)), w, threads)
        run(qs[: a.chunk * w], prompts[: a.chunk * w], p, pool=pool)  # warm up every actor (model load)
        wall, digest = run(qs, prompts, p, pool=pool)
        pool.close()
        rows.append((f"ray x{w}", threads, wall, digest))
    base = rows[1][2]  # the first Ray configuration: 1 worker with every core when --workers starts with 1
    print(f"{'path':12} {'threads/worker':>15} {'wall s':>8} {'samples/s':>10} {'vs 1 worker':>12}  draws")
    for name, threads, wall, digest in rows:
        print(f"{name:12} {threads:15d} {wall:8.1f} {samples / wall:10.1f} {base / wall:11.2f}x  {digest}")


if __name__ == "__main__":
    main()
