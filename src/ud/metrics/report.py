"""Side-by-side outputs for people: a Markdown table of every method and one reliability figure."""

from __future__ import annotations

from pathlib import Path

from ud import io
from ud.baselines import registry

COLUMNS = ("method", "n", "auroc", "auroc_ci", "auroc_raw", "accuracy", "high_acc", "high_pct", "ece", "brier",
           "invalid_rate")
METHODS = list(registry.METHODS)


def _fmt(v, digits=3) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return f"[{v[0]:.2f}, {v[1]:.2f}]"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _row(m: dict, name: str, seconds: float | None | bool) -> str:
    cost = m.get("cost", {})
    cells = [name] + [_fmt(m.get(c), 1 if c == "high_pct" else 3) for c in COLUMNS[1:]]
    cells += [_fmt(cost.get("samples_per_answer")), _fmt(cost.get("generated_tokens_per_answer"), 1)]
    if seconds is not False:
        cells.append(_fmt(seconds))
    return "| " + " | ".join(cells) + " |"


def summary_markdown(metrics: list[dict], shift: dict[str, dict] | None = None, seconds: dict | None = None) -> str:
    """Table 1/3-style: one row per method (semantic clustering once per K), then Table 2-style domain shift.
    seconds: seconds per answer by method (ud.baselines.registry.seconds_per_answer) for an s/answer column; the metrics
    stage leaves it out, since seconds are machine facts, not results."""
    timed = seconds is not None
    seconds = seconds or {}
    head = ("| " + " | ".join(c.replace("_", " ") for c in COLUMNS) + " | samples/answer | gen. tokens/answer |"
            + (" s/answer |" if timed else ""))
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2 + timed)]
    by_method = {m["method"]: m for m in metrics}
    for m in metrics:
        lines.append(_row(m, registry.title(m["method"]), seconds.get(m["method"]) if timed else False))
        for k, mk in sorted((m.get("by_k") or {}).items(), key=lambda kv: int(kv[0])):
            if int(k) != m.get("k"):
                by_k = seconds.get("semantic_by_k", {}).get(str(k)) if timed else False
                lines.append(_row(dict(mk, n=m["n"]), f"semantic clustering, K={k}", by_k))
    lines.append("")
    lines.append("AUROC: confidence bin as the score (ties count half), 95% bootstrap CI; `auroc raw`: the continuous "
                 "score before binning. ECE/Brier: each bin stands for its confidence value.")
    pairs = (by_method.get("ud") or {}).get("paired") or {}
    if pairs:
        lines += ["", "Paired AUROC difference, distilled model minus each method (binned scores, the same test "
                  "questions, paired bootstrap 95% CI):", "", "| method | Δ auroc | 95% ci | n |", "|---|---|---|---|"]
        for name, d in pairs.items():
            lines.append(f"| {registry.title(name)} | {d['delta']:+.3f} | {_fmt(d['ci'])} | {d['n']} |")
    ud, sem = by_method.get("ud"), by_method.get("semantic")
    if ud and sem and ud["cost"].get("generated_tokens_per_answer"):
        sem_tokens = sem["cost"].get("generated_tokens_per_answer") or 0
        parts = [f"{seconds['semantic'] / seconds['ud']:.1f}x wall seconds"] \
            if seconds.get("semantic") and seconds.get("ud") else []
        # under exact, clustering reads one prefill and generates nothing: no token ratio to give
        if sem_tokens:
            parts.append(f"{sem_tokens / ud['cost']['generated_tokens_per_answer']:.1f}x generated tokens")
        if parts:
            lines.append(f"\nCost per answer, semantic clustering (K={sem.get('k')}) / distilled model: "
                         f"{', '.join(parts)}.")
    if shift:
        lines += ["", "Domain shift (trained on the calibration dataset, tested on another):", "",
                  "| tested on | method | n | auroc | auroc ci | accuracy | ece | invalid rate |",
                  "|---|---|---|---|---|---|---|---|"]
        for ds, methods in shift.items():
            for name, m in methods.items():
                lines.append(f"| {ds} | {registry.title(name)} | {m['n']} | {_fmt(m['auroc'])} | "
                             f"{_fmt(m['auroc_ci'])} | {_fmt(m['accuracy'])} | {_fmt(m['ece'])} | "
                             f"{_fmt(m['invalid_rate'])} |")
        deltas = [(ds, name, d) for ds, methods in shift.items()
                  for name, d in ((methods.get("ud") or {}).get("paired") or {}).items()]
        if deltas:
            lines += ["", "Under shift, the distilled model's AUROC minus each method's (paired, 95% CI):", ""]
            lines += [f"- {ds}: {registry.title(name)} {d['delta']:+.3f} {_fmt(d['ci'])} (n={d['n']})"
                      for ds, name, d in deltas]
    return "\n".join(lines) + "\n"


def reliability_figure(rows_by_method: dict[str, list[dict]], path: str | Path) -> None:
    """Accuracy per confidence bin for every method (bins with < 10 answers not drawn, as in the paper)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1, label="perfect calibration")
    for method, rows in rows_by_method.items():
        pts = [(r["mean_confidence"], r["accuracy"], r["label"]) for r in rows if r.get("drawn")]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=method)
    ax.set_xlabel("confidence the bin stands for")
    ax.set_ylabel("accuracy in the bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Reliability (bins with >= 10 answers)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write(metrics_dir: str | Path = "metrics") -> str:
    """metrics/summary.md and metrics/plots/reliability.png from the metrics files the metrics stage wrote."""
    d = Path(metrics_dir)
    present = [m for m in METHODS if (d / f"{m}.json").exists()]
    ms = [io.read_json(d / f"{m}.json") for m in present]
    shift = io.read_json(d / "shift.json") if (d / "shift.json").exists() else {}
    md = summary_markdown(ms, shift)
    (d / "summary.md").write_text(md)
    reliability_figure({registry.title(m): io.read_json(d / "plots" / f"{m}_reliability.json") for m in present},
                       d / "plots" / "reliability.png")
    return md
