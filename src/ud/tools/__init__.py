"""Repository tooling, not the method: no stage imports it (tests/test_deps.py checks).

    deps    a stage's deps computed from its imports and the params it reads (`ud dvc-deps`)
    readme  the README's and docs' rendered blocks (`ud report --readme`)
    scale   the arithmetic of scale: samples, tokens and GPU-hours of a setting (`ud scale`)
    sweep   choosing knobs on the validation split (`ud ceilings`, `ud sweep`, `ud fit`)
    stage_times  wall time per stage from a stamped `dvc repro` log (`ud stage-times`, scripts/timed_repro.sh)
    plots   an offline template for `dvc plots show` (`ud plots-template`)
"""
