"""The arithmetic of scale: samples, tokens and GPU-hours per stage for a setting, and wall-clock hours on 1, 8 and
64 GPUs. Inputs (configs/scale/*.yaml) carry their sources: cited throughput (the paper's compute report) or
measured here. Wall hours assume the stage spreads perfectly over the GPUs (data-parallel sampling comes close;
training does not), so they are a lower bound on time, not a forecast."""

from __future__ import annotations

from pathlib import Path

import yaml


def _count(expr: str, spec: dict) -> int:
    """'calibration x n', 'calibration x (1 + incorrect)', 'test': products of the spec's named numbers."""
    total = 1
    for factor in expr.split(" x "):
        factor = factor.strip().strip("()")
        total *= sum(_value(term.strip(), spec) for term in factor.split("+"))
    return total


def _value(name: str, spec: dict) -> int:
    if name.isdigit():
        return int(name)
    if name in spec["questions"]:
        return spec["questions"][name]
    return spec[name]


def rows(spec: dict) -> list[dict]:
    out = {}
    for name, st in spec["stages"].items():
        work = _count(st["work"], spec)
        if "gpu_hours" in st:
            gpu_hours = float(st["gpu_hours"])
        else:
            base = out[st["rate_of"]]
            gpu_hours = work / base["work"] * base["gpu_hours"]
        tokens = None
        if st["unit"] in ("samples", "generations"):  # prompt + at most max_new_tokens generated, per item
            tokens = work * (spec["prompt_tokens"] + spec["max_new_tokens"])
        out[name] = {"stage": name, "work": work, "unit": st["unit"], "tokens": tokens, "gpu_hours": gpu_hours,
                     "wall_hours": {g: gpu_hours / g for g in spec["gpus"]}, "source": st["source"],
                     "parallel": st["parallel"]}
    return list(out.values())


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def table(path: str | Path) -> str:
    spec = yaml.safe_load(Path(path).read_text())
    rs = rows(spec)
    gpus = spec["gpus"]
    head = ("| stage | work | tokens (at most) | A100-hours | " + " | ".join(f"hours on {g}" for g in gpus)
            + " | parallelism | source |")
    lines = [f"Setting: {spec['setting']}.", "", head, "|" + "---|" * (6 + len(gpus))]
    for r in rs:
        tokens = f"{r['tokens'] / 1e6:,.1f}M" if r["tokens"] else "–"
        lines.append(f"| {r['stage']} | {r['work']:,} {r['unit']} | {tokens} | {_num(r['gpu_hours'])} | "
                     + " | ".join(_num(r["wall_hours"][g]) for g in gpus) + f" | {r['parallel']} | {r['source']} |")
    total = sum(r["gpu_hours"] for r in rs)
    lines.append(f"| **all** | | | **{_num(total)}** | " + " | ".join(f"**{_num(total / g)}**" for g in gpus)
                 + " | | |")
    lines += ["", f"Tokens: prompt ({spec['prompt_tokens']}, measured) + at most {spec['max_new_tokens']} generated "
              "per sample. Hours on G GPUs = A100-hours / G: perfect scaling, a lower bound (engine start-up, "
              "stragglers and training's communication come on top)."]
    return "\n".join(lines) + "\n"
