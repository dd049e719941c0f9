"""Stage annotate: bins + verbal labels -> models/binner.json, and the self-annotated SFT set
data/sft/train.jsonl (each question's correct answer plus up to `incorrect` incorrect ones, with their confidence)."""

from collections import defaultdict

from ud import io, paths, stage
from ud.data.prompts import Format
from ud.errors import DataError
from ud.method.annotate import balance, build_examples, taught
from ud.method.binning import Binner
from ud.method.calibrate import Calibrator, points
from ud.records import ANSWER_SETS, SAMPLES


def main(p):
    fmt = Format.from_params(p.prompt, p.annotate.instruction)
    asets = ANSWER_SETS.read(paths.answers_file("calibration"))
    cal = Calibrator.from_json(io.read_json(paths.CALIBRATOR))
    f, _ = points(asets)
    pc = cal(f)
    a = p.annotate
    if a.binning == "quantile":  # equal-count bins over the confidences the SFT set will teach (not every option's)
        fs = [c["f"] for _, classes in taught(asets, p.incorrect, a.incorrect_pick, p.seed) for c in classes]
        binner = Binner.quantile(p.bins, cal(fs), a.labels)
    elif a.binning == "quantile_top":  # equal-count bins over the top answers' confidences: what will be stated
        binner = Binner.quantile(p.bins, cal([s["classes"][0]["f"] for s in asets if s["classes"]]), a.labels)
    elif a.binning == "fixed_range":  # a top-of-k answer is at least 1/k
        qs = paths.questions("calibration")
        k = min((len(q["choices"]) for q in qs if q.get("choices")), default=0)
        if k < 2:
            raise DataError("annotate.binning=fixed_range needs multiple-choice questions (the range is [1/options, 1])")
        binner = Binner.fixed_range(p.bins, 1 / k, a.labels)
    else:
        binner = Binner.fixed(p.bins, a.labels)
    binner.fit_values(pc)
    io.write_json(paths.BINNER, binner.to_json())
    qs = {q["id"]: q for q in paths.questions("calibration")}
    samples: dict[str, list[dict]] = defaultdict(list)
    if fmt.reasoning:
        for rec in SAMPLES.read(paths.samples_file("calibration")):
            samples[rec["qid"]].append(rec)
    tok = None
    if fmt.chat:  # the prompt is rendered with the model's chat template
        from transformers import AutoTokenizer

        from ud.engines import models

        tok = AutoTokenizer.from_pretrained(models.ensure_local(models.resolve(p.model.id)).load_from)
    ex = build_examples(qs, asets, samples, cal, binner, fmt, p.incorrect, a.incorrect_pick, p.seed, tok)
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
