"""Sampling benchmark: naive HF generate vs the shared-prefix sampler (and `exact`), in one process.

    python bench/sample.py                    # default model, ARC-Easy calibration questions, N=20, 3 repeats
    python bench/sample.py --repeats 1 --short-questions 4 --reasoning-questions 2   # quicker

Two workloads on the same prompts, model, N and max tokens:
  short      the `choices` estimator (answer = an option text, <= 16 tokens), qa template
  reasoning  the `free` estimator with the Appendix E.1 reasoning prompt, up to 128 tokens
For each: samples/s, generated tokens/s, the ratio shared/naive, and the fraction of the machine's roofline:
2 x parameters x tokens processed (prefill + decode rows, as each path computes them) per second, against the
fp32 matmul GFLOP/s measured in this run. Ratios are what to read (machines are noisy); medians of --repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ud.data import sources
from ud.data.prompts import Format
from ud.engines import models
from ud.engines.base import SampleRequest, stable_seed
from ud.engines.hf import HFBackend
from ud.sampling.estimators import exact_record, option_trie


def matmul_gflops(hidden: int, inter: int, seconds: float = 2.0) -> float:
    """Sustained fp32 GFLOP/s of a (512 x hidden) @ (hidden x inter) matmul: the shape of an MLP projection."""
    a, b = torch.randn(512, hidden), torch.randn(hidden, inter)
    for _ in range(3):
        a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return 2 * 512 * hidden * inter * n / (time.perf_counter() - t0) / 1e9


def run_naive(be: HFBackend, fmt: Format, qs: list[dict], n: int, max_new: int, choices: bool) -> dict:
    samples = tokens = processed = 0
    t0 = time.perf_counter()
    for q in qs:
        prompt = fmt.prompt(q, be.tok)
        tries = [option_trie(be, fmt, q)[0]] if choices else None
        gens = be.generate([prompt], n, max_new_tokens=max_new, tries=tries, seed=1,
                           stop_strings=None if choices else fmt.stop_strings())[0]
        plen = len(be.encode([prompt])["input_ids"][0])
        steps = max(g.n_tokens for g in gens)  # every row is computed until the last one stops
        samples += len(gens)
        tokens += sum(g.n_tokens for g in gens)
        processed += n * (plen + steps)
    return {"wall": time.perf_counter() - t0, "samples": samples, "tokens": tokens, "processed": processed}


def run_shared(be: HFBackend, fmt: Format, qs: list[dict], n: int, max_new: int, choices: bool,
               chunk: int) -> dict:
    samples = tokens = 0
    be.stats = {"forward_tokens": 0, "generated_tokens": 0}
    be._prefill_memo = None
    t0 = time.perf_counter()
    for i in range(0, len(qs), chunk):
        batch = qs[i: i + chunk]
        reqs = [SampleRequest(fmt.prompt(q, be.tok), [stable_seed(0, q["id"], k) for k in range(n)],
                              option_trie(be, fmt, q)[0] if choices else None) for q in batch]
        for gens in be.sample(reqs, max_new_tokens=max_new, stop_strings=None if choices else fmt.stop_strings()):
            samples += len(gens)
            tokens += sum(g.n_tokens for g in gens)
    return {"wall": time.perf_counter() - t0, "samples": samples, "tokens": tokens,
            "processed": be.stats["forward_tokens"]}


def run_exact(be: HFBackend, fmt: Format, qs: list[dict]) -> dict:
    t0 = time.perf_counter()
    processed = 0
    for q in qs:
        prompt = fmt.prompt(q, be.tok)
        rec = exact_record(be, fmt, q, prompt)
        plen = len(be.encode([prompt])["input_ids"][0])
        processed += sum(plen + t + 1 for t in rec["n_tokens"])
    return {"wall": time.perf_counter() - t0, "samples": None, "tokens": 0, "processed": processed,
            "questions": len(qs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--dataset", default="arc_easy")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--short-questions", type=int, default=16)
    ap.add_argument("--reasoning-questions", type=int, default=4)
    ap.add_argument("--short-tokens", type=int, default=16)
    ap.add_argument("--reasoning-tokens", type=int, default=128)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()

    model, tok, ref = models.load(a.model)
    be = HFBackend(model, tok)
    params = sum(p.numel() for p in model.parameters())
    cfg = model.config
    peak = matmul_gflops(cfg.hidden_size, getattr(cfg, "intermediate_size", 4 * cfg.hidden_size))
    qs = sources.load_questions("olmo", a.dataset, "train")[: max(a.short_questions, a.reasoning_questions)]
    print(f"model {a.model}: {params / 1e6:.1f}M parameters, {torch.get_num_threads()} threads, "
          f"device {be.device}; matmul {peak:.1f} GFLOP/s (fp32, measured now); N={a.n}, repeats={a.repeats}")
    short_fmt = Format("qa", "text")
    reason_fmt = Format("reasoning", "letter", reasoning=True)
    workloads = [
        ("short", short_fmt, qs[: a.short_questions], a.short_tokens, True),
        ("reasoning", reason_fmt, qs[: a.reasoning_questions], a.reasoning_tokens, False),
    ]
    results: dict = {"model": a.model, "parameters": params, "matmul_gflops": peak, "n": a.n, "workloads": {}}
    for name, fmt, wq, max_new, choices in workloads:
        be.chat = fmt.chat
        runs: dict[str, list[dict]] = {"naive": [], "shared": [], "exact": []}
        for r in range(a.repeats):
            runs["naive"].append(run_naive(be, fmt, wq, a.n, max_new, choices))
            runs["shared"].append(run_shared(be, fmt, wq, a.n, max_new, choices, a.chunk))
            if choices:
                runs["exact"].append(run_exact(be, fmt, wq))
        rows = {}
        for path, rs in runs.items():
            if not rs:
                continue
            wall = statistics.median(x["wall"] for x in rs)
            x = rs[0]
            flops = 2 * params * statistics.median(x["processed"] for x in rs) / wall / 1e9
            rows[path] = {
                "wall_s": wall,
                "samples_per_s": x["samples"] / wall if x["samples"] else None,
                "questions_per_s": len(wq) / wall,
                "generated_tokens_per_s": x["tokens"] / wall,
                "tokens_processed": x["processed"],
                "roofline_fraction": flops / peak,
            }
        ratio = statistics.median(n["wall"] / s["wall"] for n, s in zip(runs["naive"], runs["shared"]))
        rows["shared_over_naive"] = ratio
        results["workloads"][name] = {"questions": len(wq), "max_new_tokens": max_new, **rows}
        print(f"\n{name}: {len(wq)} questions x N={a.n}, max {max_new} new tokens")
        print(f"  {'path':8} {'samples/s':>10} {'q/s':>7} {'gen tok/s':>10} {'processed':>10} {'roofline':>9}")
        for path in ("naive", "shared", "exact"):
            if path in rows:
                r = rows[path]
                sps = f"{r['samples_per_s']:.1f}" if r["samples_per_s"] else "-"
                print(f"  {path:8} {sps:>10} {r['questions_per_s']:7.2f} {r['generated_tokens_per_s']:10.1f} "
                      f"{r['tokens_processed']:10d} {r['roofline_fraction']:9.1%}")
        print(f"  shared / naive samples/s: {ratio:.2f}x (median of {a.repeats})")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
