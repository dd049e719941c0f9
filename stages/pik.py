"""Stage pik: P(IK), a logistic probe on the hidden state at the end of the base model's greedy answer, trained on
the calibration split -> models/pik_probe.json, data/eval/pik.jsonl (test, and the shift datasets)."""

import numpy as np
from safetensors.numpy import load_file

from ud import io, paths, stage
from ud.baselines import pik
from ud.records import ANSWERS, GREEDY


def main(p):
    probe = pik.fit(load_file(str(paths.features_file("calibration")))["hidden"],
                    GREEDY.read(paths.greedy_file("calibration")), c=p.baselines.pik.C, seed=p.seed)
    io.write_json(paths.PIK_PROBE, probe.to_json())
    records = GREEDY.read(paths.greedy_file("eval"))
    keep = np.array([p.baselines.pik.shift or r["set"] == p.scored for r in records], dtype=bool)
    feats = load_file(str(paths.features_file("eval")))["hidden"][keep]
    ANSWERS.write(paths.eval_file("pik"), pik.score(probe, feats, [r for r, k in zip(records, keep) if k]))


if __name__ == "__main__":
    stage.run(main)
