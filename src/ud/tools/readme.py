"""The rendered blocks of README.md and docs/*.md (`ud report --readme`): every number the text states about a run
comes from its files, so the text cannot go stale (tests/test_report.py checks every block against them).

A kept run is a metrics folder plus the folder holding its machine facts (timings.json: seconds per answer, kept by
`ud timings --keep`; stage_times.json: wall time per stage, `ud stage-times` of a scripts/timed_repro.sh log).
Rerunning the pipeline rewrites neither, so a rerun on another machine leaves every block as it is."""

from __future__ import annotations

from pathlib import Path

from ud import io
from ud.metrics.report import METHODS, _fmt, summary_markdown

# name -> (what it is rendered from: a metrics folder or a configs/scale/ spec, the kept run's folder or None)
BLOCKS = {"default": ("metrics", "results/default"),
          "cpu-large": ("results/cpu-large/metrics", "results/cpu-large"),
          "open-arithmetic": ("results/open-arithmetic/metrics", "results/open-arithmetic"),
          "scale": ("configs/scale/paper-mmlu.yaml", None)}
SWEEPS = {"cpu-large-validation": "results/cpu-large/sweeps"}  # name -> the kept rows of `ud ceilings` / `ud sweep`
DOCS = ("README.md", "docs")


def _begin(name: str, source: str) -> str:
    where = source if source.endswith(".yaml") else f"{source}/"
    return f"<!-- ud report {name} (from {where} by `ud report --readme`; do not edit by hand) -->"


def _end(name: str) -> str:
    return f"<!-- /ud report {name} -->"


def results_block(metrics_dir: str | Path, kept: str | Path | None = None, *, table_only: bool = False) -> str:
    """Every number the text states about a run: the methods table (with seconds per answer from the kept
    timings), the domain-shift table, the calibration data and the SFT set, the distilled model under both label
    rules, and the wall time per stage. table_only: the methods table alone."""
    d = Path(metrics_dir)
    ms = [io.read_json(d / f"{m}.json") for m in METHODS if (d / f"{m}.json").exists()]
    shift = io.read_json(d / "shift.json") if (d / "shift.json").exists() and not table_only else {}
    kept = Path(kept) if kept else None
    timings = kept / "timings.json" if kept else None
    seconds = io.read_json(timings)["seconds_per_answer"] if timings and timings.exists() else None
    lines = [summary_markdown(ms, shift, seconds).rstrip()]
    pinned = kept / "code_commit" if kept else None
    if pinned and pinned.exists():
        commit = pinned.read_text().strip()[:7]
        lines.append(f"\nComputed by the code at commit `{commit}`, not by this version: `git checkout {commit}` "
                     "reproduces it; the current code has not been run on this profile yet.")
    if table_only:
        return "\n".join(lines) + "\n"
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
    if kept and (kept / "stage_times.json").exists():
        lines.append("\n" + stage_times_line(io.read_json(kept / "stage_times.json")))
    return "\n".join(lines) + "\n"


def stage_times_line(t: dict) -> str:
    """A run's wall time per stage (`ud stage-times`: from a log of scripts/timed_repro.sh)."""
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


def validation_block(folder: str | Path) -> str:
    """The tables that chose a run's knobs on the validation split: `ud ceilings` (each binning rule's teacher AUROC
    and SFT labels, before training), `ud sweep` (the distilled model per configuration) and `ud fit` (the student
    on its own training questions)."""
    from ud.tools.sweep import baseline_table, ceiling_table, fit_table, pairs_table, source_table, student_pairs, table

    d = Path(folder)
    parts = []
    if (d / "ceilings.json").exists():
        rows = io.read_json(d / "ceilings.json")
        parts.append(f"Before training (`ud ceilings`, validation n = {rows[0]['n'] if rows else 0}): the teacher's "
                     "binned AUROC under each rule, the ceiling the distilled model imitates, and the labels the SFT "
                     "set would teach.\n\n" + ceiling_table(rows))
    if (d / "sweep.json").exists():
        parts.append("The distilled model per configuration (`ud sweep`, validation split):\n\n"
                     + table(io.read_json(d / "sweep.json")))
        if pairs := student_pairs(io.read_json(d / "sweep.json")):
            parts.append("The distilled models of two rows on the same validation questions (the rows that kept their "
                         "answers), paired: a knob's effect is what clears the spread between two trainings.\n\n"
                         + pairs_table(pairs))
        if mixed := [r for r in io.read_json(d / "sweep.json") if r.get("by_source")]:
            parts.append("The rows whose validation split has more than one source (`ud mix`), per source: the "
                         "in-domain part compares with the rows above, a source no calibration question came from is "
                         "a shift measured on validation-side data.\n\n" + source_table(mixed))
        if scored := [r for r in io.read_json(d / "sweep.json") if r.get("baselines")]:
            parts.append("The rows that also ran baselines on validation (`ud sweep --baselines`): each binned by the "
                         "row's rule and paired against the distilled model and the teacher on the same questions; "
                         "the teacher's raw AUROC beside its binned one separates its signal from its bins.\n\n"
                         + baseline_table(scored))
    for f in sorted(d.glob("mixes/*/ceilings.json")):
        rows = io.read_json(f)
        parts.append(f"`ud ceilings` on the `{f.parent.name}` mix (validation n = {rows[0]['n'] if rows else 0}), "
                     "per source: how far the teacher's calibration and bins, fitted on the calibration sources, "
                     "carry to a source no calibration question came from.\n\n" + ceiling_table(rows))
    if (d / "fit.json").exists():
        parts.append("The distilled model on the calibration questions it was trained on, against the teacher on the "
                     "same questions (`ud fit`): a student that matches its teacher here but not on validation does "
                     "not generalize; one that misses here too is underfit.\n\n"
                     + fit_table(io.read_json(d / "fit.json")))
    return "\n".join(parts)


def documents(root: Path) -> list[Path]:
    """README.md and every docs/*.md."""
    out = [root / "README.md"] if (root / "README.md").exists() else []
    return out + sorted((root / "docs").glob("*.md"))


def render_text(text: str, root: Path) -> tuple[str, list[str]]:
    """The text with every block between its markers rendered anew; the names of the blocks that changed."""
    changed = []
    for name, (source, kept) in BLOCKS.items():
        for table_only in (False, True):
            label = f"{name}-table" if table_only else name
            begin, end = _begin(label, source), _end(label)
            if begin not in text or not (root / source).exists():
                continue
            if (root / source).is_dir():
                body = results_block(root / source, root / kept if kept else None, table_only=table_only)
            else:
                from ud.tools.scale import table

                body = table(root / source)
            pieces = text.split(begin)
            new = pieces[0]
            for piece in pieces[1:]:  # a block may appear more than once
                _, tail = piece.split(end, 1)
                new += f"{begin}\n{body}{end}{tail}"
            if new != text:
                changed.append(label)
                text = new
    for name, folder in SWEEPS.items():
        begin, end = _begin(name, folder), _end(name)
        if begin in text and (root / folder).exists():
            pieces = text.split(begin)
            new = pieces[0] + "".join(f"{begin}\n{validation_block(root / folder)}{end}{piece.split(end, 1)[1]}"
                                      for piece in pieces[1:])
            if new != text:
                changed.append(name)
                text = new
    return text, changed


def render_readme(root: str | Path = ".", check: bool = False) -> list[str]:
    """Render the blocks of README.md and docs/*.md from their sources. Returns "file: block" for each block that
    was (check: would be) changed; a block whose source does not exist is left alone."""
    root = Path(root)
    changed = []
    for path in documents(root):
        text = path.read_text()
        new, names = render_text(text, root)
        changed += [f"{path.relative_to(root)}: {n}" for n in names]
        if names and not check:
            path.write_text(new)
    return changed
