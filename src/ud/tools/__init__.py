"""Repository tooling, not the method: no stage imports it (tests/test_deps.py checks).

    deps    a stage's deps computed from its imports and the params it reads (`ud dvc-deps`)
    readme  the README's and docs' rendered blocks (`ud report --readme`)
    scale   the arithmetic of scale: samples, tokens and GPU-hours of a setting (`ud scale`)
"""
