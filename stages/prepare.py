"""Stage prepare: seeded, disjoint calibration/validation/test splits in one question schema, and the
domain-shift datasets' test questions -> data/splits/{calibration,validation,test}.jsonl, data/splits/shift/."""

from ud import paths, stage
from ud.data import sources
from ud.engines import models
from ud.records import QUESTIONS


def main(p):
    models.resolve(p.model.id)  # a bad model id stops here, before any compute
    splits = sources.make_splits(p.data.source, p.data.dataset, p.prepare.model_dump(by_alias=True), p.seed)
    counts = {name: QUESTIONS.write(paths.split_file(name), qs) for name, qs in splits.items()}
    for old in paths.SHIFT_DIR.glob("*.jsonl"):  # the folder holds exactly the datasets of shift.datasets
        old.unlink()
    paths.SHIFT_DIR.mkdir(parents=True, exist_ok=True)
    sh = p.shift
    for dataset in sh.datasets:
        qs = sources.shift_questions(sh.source, dataset, sh.split_of.get(dataset, sh.split), sh.questions, p.seed)
        counts[f"shift/{dataset}"] = QUESTIONS.write(paths.shift_file(dataset), qs)
    print(f"prepare: {counts}")


if __name__ == "__main__":
    stage.run(main)
