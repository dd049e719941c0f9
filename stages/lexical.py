"""Stage lexical: mean token probability of the base model's greedy answer, calibrated by isotonic regression on
the calibration split -> models/lexical_calibrator.json, data/eval/lexical.jsonl (test, and the shift datasets)."""

from ud import io, paths, stage
from ud.baselines import lexical
from ud.records import ANSWERS, GREEDY


def main(p):
    calibrator = lexical.fit(GREEDY.read(paths.greedy_file("calibration")))
    io.write_json(paths.LEXICAL_CALIBRATOR, calibrator.to_json())
    answers = [r for r in GREEDY.read(paths.greedy_file("eval")) if p.baselines.lexical.shift or r["set"] == p.scored]
    ANSWERS.write(paths.eval_file("lexical"), lexical.score(calibrator, answers))


if __name__ == "__main__":
    stage.run(main)
