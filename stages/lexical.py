"""Stage lexical: mean token probability of the base model's greedy answer, calibrated by isotonic regression on
the calibration split -> models/lexical_calibrator.json, data/eval/lexical.jsonl (test, and the shift datasets)."""

from ud import io, paths, stage
from ud.baselines import lexical


def main(p):
    calibrator = lexical.fit(list(io.read_jsonl(paths.greedy_file("calibration"))))
    io.write_json(paths.LEXICAL_CALIBRATOR, calibrator.to_json())
    records = [r for r in io.read_jsonl(paths.greedy_file("eval")) if p.baselines.lexical.shift or r["set"] == "test"]
    io.write_jsonl(paths.eval_file("lexical"), lexical.score(calibrator, records))


if __name__ == "__main__":
    stage.run(main)
