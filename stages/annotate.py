"""Stage annotate: bins + verbal labels -> models/binner.json, and the self-annotated SFT set
data/sft/train.jsonl (each question's correct answer plus up to `incorrect` incorrect ones, with their confidence)."""

from collections import defaultdict

from ud import io, paths, stage
from ud.data.prompts import Format
from ud.method.annotate import balance, build_examples, fewest_options, fit_binner
from ud.method.calibrate import Calibrator
from ud.records import ANSWER_SETS, SAMPLES


def main(p):
    fmt = Format.from_params(p.prompt, p.annotate.instruction)
    asets = ANSWER_SETS.read(paths.answers_file("calibration"))
    cal = Calibrator.from_json(io.read_json(paths.CALIBRATOR))
    a = p.annotate
    qs = {q["id"]: q for q in paths.questions("calibration")}
    binner = fit_binner(a.binning, p.bins, asets, cal, options=fewest_options(qs.values()), incorrect=p.incorrect,
                        pick=a.incorrect_pick, seed=p.seed, labels=a.labels)
    io.write_json(paths.BINNER, binner.to_json())
    samples: dict[str, list[dict]] = defaultdict(list)
    if fmt.reasoning:
        for rec in SAMPLES.read(paths.samples_file("calibration")):
            samples[rec["qid"]].append(rec)
    tok = None
    if fmt.chat:  # the prompt is rendered with the model's chat template
        from transformers import AutoTokenizer

        from ud.engines import models

        tok = AutoTokenizer.from_pretrained(models.ensure_local(models.resolve(p.model.id)).load_from)
    ex = build_examples(qs, asets, samples, cal, binner, fmt, p.incorrect, a.incorrect_pick, p.seed, tok,
                        teach_answers=a.teach_answers)
    annotated = {lab: sum(e["label"] == lab for e in ex) for lab in binner.labels}
    if a.balance:  # the labels as annotated stay in metrics/annotate.json (per_bin_annotated)
        ex = balance(ex, p.seed)
    io.write_jsonl(paths.SFT_FILE, ex)
    m = {"examples": len(ex), "correct": sum(e["correct"] for e in ex), "incorrect": sum(not e["correct"] for e in ex),
         "per_bin": {lab: sum(e["label"] == lab for e in ex) for lab in binner.labels}, "bins": binner.n_bins,
         **({"per_bin_annotated": annotated} if a.balance else {}),
         "questions": len(asets),
         "questions_without_correct_answer": sum(not any(c["correct"] for c in s["classes"]) for s in asets)}
    io.write_json(paths.METRICS / "annotate.json", m)
    print(f"annotate: {m}")


if __name__ == "__main__":
    stage.run(main)
