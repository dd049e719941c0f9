"""Side-by-side outputs for people: a Markdown table of every method and one reliability figure."""

from __future__ import annotations

from pathlib import Path

from ud import io

COLUMNS = ("method", "n", "auroc", "auroc_ci", "accuracy", "high_acc", "high_pct", "ece", "brier", "invalid_rate")


def _fmt(v, digits=3) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return f"[{v[0]:.2f}, {v[1]:.2f}]"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def summary_markdown(metrics: list[dict]) -> str:
    head = "| " + " | ".join(c.replace("_", " ") for c in COLUMNS) + " | cost (s/answer) |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for m in metrics:
        cost = m.get("cost", {}).get("seconds_per_answer")
        lines.append("| " + " | ".join(_fmt(m.get(c), 1 if c == "high_pct" else 3) for c in COLUMNS)
                     + f" | {_fmt(cost)} |")
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


def write(methods: list[str], metrics_dir: str = "metrics") -> str:
    d = Path(metrics_dir)
    ms = [io.read_json(d / f"{m}.json") for m in methods]
    md = summary_markdown(ms)
    (d / "summary.md").write_text(md)
    reliability_figure({m: io.read_json(d / "plots" / f"{m}_reliability.json") for m in methods},
                       d / "plots" / "reliability.png")
    return md
