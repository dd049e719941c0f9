"""The README's rendered blocks (`ud report --readme`): every number the README states about a run comes from its
metrics files, so the text cannot go stale (tests/test_report.py checks the README against them). Apart from
ud.report, which the metrics stage imports, so that changing how the README is laid out reruns no stage."""

from __future__ import annotations

from pathlib import Path

from ud import io
from ud.report import METHODS, _fmt, summary_markdown

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
    lines = ["| variant | change | SFT examples | SFT per label | train loss | train min | AUROC [CI] | "
             "argmax | raw | accuracy | labels stated | teacher AUROC binned / raw | base model accuracy |",
             "|" + "---|" * 13]
    for r in runs:
        t, sft = r["test"], r["sft"]
        change = ", ".join(f"`{k}={v}`" for k, v in r["overrides"].items()) or "(as in params.yaml)"
        lines.append(f"| {r['variant']} | {change} | {sft['examples']} | {'/'.join(map(str, sft['per_bin'].values()))} "
                     f"| {_fmt(r['train']['loss'])} | {r['train']['minutes']} | "
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
