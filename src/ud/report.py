"""Side-by-side outputs for people: a Markdown table of every method and one reliability figure."""

from __future__ import annotations

from pathlib import Path

from ud import io

COLUMNS = ("method", "n", "auroc", "auroc_ci", "auroc_raw", "accuracy", "high_acc", "high_pct", "ece", "brier",
           "invalid_rate")
METHODS = ["ud", "teacher", "prompting", "lexical", "ptrue", "pik", "semantic"]
NAMES = {"ud": "UD (distilled, 1 generation)", "teacher": "teacher (N samples, calibrated)",
         "prompting": "prompting (E.1)", "lexical": "lexical (calibrated mean token p)", "ptrue": "P(True)",
         "pik": "P(IK) probe", "semantic": "semantic clustering"}


def _fmt(v, digits=3) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return f"[{v[0]:.2f}, {v[1]:.2f}]"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _row(m: dict, name: str) -> str:
    cost = m.get("cost", {})
    cells = [name] + [_fmt(m.get(c), 1 if c == "high_pct" else 3) for c in COLUMNS[1:]]
    cells += [_fmt(cost.get("samples_per_answer")), _fmt(cost.get("generated_tokens_per_answer"), 1),
              _fmt(cost.get("seconds_per_answer"))]
    return "| " + " | ".join(cells) + " |"


def summary_markdown(metrics: list[dict], shift: dict[str, dict] | None = None) -> str:
    """Table 1/3-style: one row per method (semantic clustering once per K), then Table 2-style domain shift."""
    head = ("| " + " | ".join(c.replace("_", " ") for c in COLUMNS)
            + " | samples/answer | gen. tokens/answer | s/answer |")
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    by_method = {m["method"]: m for m in metrics}
    for m in metrics:
        lines.append(_row(m, NAMES.get(m["method"], m["method"])))
        for k, mk in sorted((m.get("by_k") or {}).items(), key=lambda kv: int(kv[0])):
            if int(k) != m.get("k"):
                lines.append(_row(dict(mk, n=m["n"]), f"semantic clustering, K={k}"))
    lines.append("")
    lines.append("AUROC: confidence bin as the score (ties count half), 95% bootstrap CI; `auroc raw`: the continuous "
                 "score before binning. ECE/Brier: each bin stands for its confidence value.")
    ud, sem = by_method.get("ud"), by_method.get("semantic")
    if ud and sem and ud["cost"].get("seconds_per_answer") and sem["cost"].get("seconds_per_answer"):
        ratio_s = sem["cost"]["seconds_per_answer"] / ud["cost"]["seconds_per_answer"]
        ratio_t = (sem["cost"].get("generated_tokens_per_answer") or 0) / max(
            1e-9, ud["cost"].get("generated_tokens_per_answer") or 0)
        lines.append(f"\nCost per answer, semantic clustering (K={sem.get('k')}) / distilled model: "
                     f"{ratio_s:.1f}x wall seconds, {ratio_t:.1f}x generated tokens.")
    if shift:
        lines += ["", "Domain shift (trained on the calibration dataset, tested on another):", "",
                  "| tested on | method | n | auroc | auroc ci | accuracy | ece | invalid rate |",
                  "|---|---|---|---|---|---|---|---|"]
        for ds, methods in shift.items():
            for name, m in methods.items():
                lines.append(f"| {ds} | {NAMES.get(name, name)} | {m['n']} | {_fmt(m['auroc'])} | "
                             f"{_fmt(m['auroc_ci'])} | {_fmt(m['accuracy'])} | {_fmt(m['ece'])} | "
                             f"{_fmt(m['invalid_rate'])} |")
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
    reliability_figure({NAMES.get(m, m): io.read_json(d / "plots" / f"{m}_reliability.json") for m in present},
                       d / "plots" / "reliability.png")
    return md


# ---- README tables, rendered from the metrics files ------------------------------------------------------------
# name -> what it is rendered from: a metrics folder (a run's results) or a configs/scale/ file (ud.scale)
README_BLOCKS = {"default": "metrics", "cpu-large": "results/cpu-large/metrics",
                 "cpu-large-diagnosis": "results/cpu-large/diagnosis", "scale": "configs/scale/paper-mmlu.yaml"}


def _begin(name: str, folder: str) -> str:
    where = folder if folder.endswith(".yaml") else f"{folder}/"
    return f"<!-- ud report {name} (from {where} by `ud report --readme`; do not edit by hand) -->"


def _end(name: str) -> str:
    return f"<!-- /ud report {name} -->"


def results_block(metrics_dir: str | Path) -> str:
    """Every number the README states about a run: the methods table, the domain-shift table, the calibration data
    and the SFT set, the distilled model under both label rules."""
    d = Path(metrics_dir)
    # scripts/partial_metrics.py: a run that stopped before every stage finished; a metrics file of a missing method
    # (left from another run) is never shown as this run's
    not_run = io.read_json(d / "partial.json")["missing"] if (d / "partial.json").exists() else []
    ms = [io.read_json(d / f"{m}.json") for m in METHODS if (d / f"{m}.json").exists() and m not in not_run]
    shift = io.read_json(d / "shift.json") if (d / "shift.json").exists() else {}
    shift = {ds: {m: v for m, v in methods.items() if m not in not_run} for ds, methods in shift.items()}
    lines = [summary_markdown(ms, shift).rstrip()]
    if not_run:
        lines.append(f"\nPartial run: {', '.join(not_run)} did not finish (scripts/partial_metrics.py).")
    ud = next((m for m in ms if m["method"] == "ud"), None)
    if ud and ud.get("auroc_bin_argmax") is not None:
        lines.append(f"\nDistilled model, binned AUROC by label rule: argmax {_fmt(ud.get('auroc_bin_argmax'))} "
                     f"{_fmt(ud.get('auroc_bin_argmax_ci'))}, expected {_fmt(ud.get('auroc_bin_expected'))} "
                     f"{_fmt(ud.get('auroc_bin_expected_ci'))}; the expected confidence itself (raw) "
                     f"{_fmt(ud.get('auroc_raw'))} {_fmt(ud.get('auroc_raw_ci'))}.")
    if (d / "calibration.json").exists():
        c = io.read_json(d / "calibration.json")
        lines.append(f"\nCalibration data: {c['points']} (question, answer) points, {c['positives']} right; top-answer "
                     f"accuracy {_fmt(c['top_accuracy'])}, AUROC of its frequency {_fmt(c['top_auroc'])}; ECE "
                     f"({c.get('ece_bins', 30)} bins) {_fmt(c['ece_before'])} raw, {_fmt(c['ece_after_cv'])} after "
                     f"{c['method']} calibration out of fold ({_fmt(c['ece_after'])} in sample).")
    if (d / "annotate.json").exists():
        a = io.read_json(d / "annotate.json")
        per_bin = ", ".join(f"{k} {v}" for k, v in a["per_bin"].items())
        missing = (f"; {a['questions_without_correct_answer']} of {a['questions']} calibration questions never "
                   "produced their correct answer (no correct example)" if "questions" in a else "")
        lines.append(f"\nSFT set: {a['examples']} examples ({a['correct']} correct, {a['incorrect']} incorrect); "
                     f"per label: {per_bin}{missing}.")
    times = next((f for f in (d / "stage_times.json", d.parent / "stage_times.json") if f.exists()), None)
    if times is not None:
        lines.append("\n" + stage_times_line(io.read_json(times)))
    return "\n".join(lines) + "\n"


def diagnosis_block(folder: str | Path) -> str:
    """scripts/diagnose_sweep.py's variants (one JSON each): the distilled model retrained under one change at a time,
    scored on the same test questions. `base` first, then by name."""
    runs = sorted((io.read_json(f) for f in Path(folder).glob("*.json")), key=lambda r: (r["variant"] != "base",
                                                                                          r["variant"]))
    if not runs:
        return "No variant has run yet (scripts/diagnose_sweep.py).\n"
    lines = ["| variant | change | SFT examples | SFT per label | steps | train loss | train min | AUROC [CI] | "
             "argmax | raw | accuracy | labels stated | teacher AUROC binned / raw | base model accuracy |",
             "|" + "---|" * 14]
    for r in runs:
        t, sft = r["test"], r["sft"]
        change = ", ".join(f"`{k}={v}`" for k, v in r["overrides"].items()) or "(as in params.yaml)"
        lines.append(f"| {r['variant']} | {change} | {sft['examples']} | {'/'.join(map(str, sft['per_bin'].values()))} "
                     f"| {r['train']['steps']} | {_fmt(r['train']['loss'])} | {r['train']['minutes']} | "
                     f"{_fmt(t['auroc'])} {_fmt(t['auroc_ci'])} | {_fmt(t['auroc_bin_argmax'])} | "
                     f"{_fmt(t['auroc_raw'])} | {_fmt(t['accuracy'])} | {'/'.join(map(str, t['labels_stated']))} | "
                     f"{_fmt(t['teacher']['auroc'])} / {_fmt(t['teacher']['auroc_raw'])} | {_fmt(t['base_accuracy'])} |")
    common = runs[0]["common"]  # (`size` keys: variants run before the split sizes became `questions`)
    tested = common.get("prepare.test.questions", common.get("prepare.test.size"))
    lines.append(f"\nEvery variant is scored on the first {tested} questions of the test split, without domain shift "
                 "(`shift.datasets=[]`); AUROC of the stated label (`evaluate.label_rule`), argmax: of the most likely "
                 "label, raw: of the expected confidence. The teacher is binned by each variant's own labels (what that model was "
                 "taught); the base model's accuracy is its greedy answer's, as in the lexical baseline.")
    return "\n".join(lines) + "\n"


def stage_times_line(t: dict) -> str:
    """A run's wall time per stage (scripts/stage_times.py: from a log of scripts/timed_repro.sh)."""
    per = ", ".join(f"{k} {v / 60:.1f}" for k, v in t["stages_s"].items())
    line = f"Wall time per stage, min (`scripts/timed_repro.sh`): {per}; total {t['total_s'] / 60:.1f} min"
    if t.get("exit"):
        line += f" (stopped: exit {t['exit']})"
    if "reused" in t:
        r = t["reused"]
        prior = ", ".join(f"{k} {v / 60:.1f}" for k, v in r["stages_s"].items())
        line += (f". {', '.join(r['stages_s'])} did not rerun (an earlier run's outputs or cache); measured in that run "
                 f"({r['from']}): {prior} min, so from scratch: {t['total_with_reused_s'] / 60:.1f} min")
    return line + "."


def render_readme(readme: str | Path = "README.md", root: str | Path = ".", check: bool = False) -> list[str]:
    """Replace the text between each block's markers with the block rendered from its source (a metrics folder, or
    a scale spec). Returns the names of the blocks that were (check: would be) changed; a block whose source does
    not exist is left alone."""
    path, root = Path(readme), Path(root)
    text = path.read_text()
    changed = []
    for name, folder in README_BLOCKS.items():
        begin, end = _begin(name, folder), _end(name)
        if begin not in text or not (root / folder).exists():
            continue
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        if name.endswith("-diagnosis"):
            body = diagnosis_block(root / folder)
        elif (root / folder).is_dir():
            body = results_block(root / folder)
        else:
            from ud.scale import table

            body = table(root / folder)
        new = f"{head}{begin}\n{body}{end}{tail}"
        if new != text:
            changed.append(name)
            text = new
    if changed and not check:
        path.write_text(text)
    return changed
