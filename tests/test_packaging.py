"""Every package the code imports is declared in pyproject.toml; test-only packages are in the dev extra."""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

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
    locked = {_requirement_name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert not {"pytest", "moto"} & locked  # the runtime lock; tests install requirements-dev.txt on top
