"""A stage's deps, computed: its code is the import closure of its script inside src/ud, its params the keys the
script reads. `ud dvc-deps --check` compares them with dvc.yaml, `--write` puts them there.

Code: every `ud` module the script imports (statically, imports inside functions included), the modules those
import, and so on, plus the packages' __init__.py files that importing them runs.
Params: every attribute chain on the params object `p` in the script (`p.sample.n` -> `sample.n`), followed as far
as it names params fields (`p.train` handed to a function -> the whole `train` section). Stage scripts read params
only this way: passing `p` itself anywhere is reported, because then what is read could not be known. The listed
keys are the smallest set that covers every read key, so a knob a stage does not read never reruns it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pydantic import BaseModel

from ud.params import Params

SRC = Path("src")
CODE = re.compile(r"^(stages|src)/.*\.py$")


# ---- code ------------------------------------------------------------------------------------------------------
def _module_file(root: Path, module: str) -> Path | None:
    base = root / SRC / Path(*module.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.exists():
            return cand
    return None


def _imports(path: Path) -> set[str]:
    """`ud` modules a file imports (`from ud.x import y` counts ud.x, and ud.x.y when that is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "ud")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "ud":
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # kept only where such a module exists
    return out


def code_closure(script: str | Path, root: Path = Path(".")) -> list[str]:
    """The script and every file of src/ud it imports, directly or not (paths relative to root, sorted)."""
    seen: set[Path] = set()
    todo = [root / script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(path):
            parts = module.split(".")
            for i in range(1, len(parts) + 1):  # importing ud.a.b runs ud/__init__ and ud/a/__init__ too
                f = _module_file(root, ".".join(parts[:i]))
                if f is not None and f not in seen:
                    todo.append(f)
    return sorted(str(p.relative_to(root)) for p in seen)


# ---- params ----------------------------------------------------------------------------------------------------
def _field(model: type[BaseModel], attr: str):
    f = model.model_fields.get(attr)
    return (f.alias or attr, f.annotation) if f is not None else None


def params_read(script: str | Path, root: Path = Path("."), name: str = "p") -> list[str]:
    """Keys of params.yaml the script reads through `p` (sorted). ValueError where `p` escapes whole."""
    path = root / script
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    keys: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)):
            continue
        chain, cur = [], node
        while isinstance(parents.get(cur), ast.Attribute) and parents[cur].value is cur:
            cur = parents[cur]
            chain.append(cur.attr)
        if not chain:
            raise ValueError(f"{script}:{node.lineno}: the params object `{name}` is used whole; read its keys in the "
                             f"stage (p.section.key) so the stage's params can be computed")
        model, key = Params, []
        for attr in chain:
            found = _field(model, attr) if isinstance(model, type) and issubclass(model, BaseModel) else None
            if found is None:
                break
            key.append(found[0])
            model = found[1]
        if not key:
            raise ValueError(f"{script}:{node.lineno}: p.{chain[0]} is not a params key")
        keys.add(".".join(key))
    return sorted(minimal(keys))


def minimal(keys: set[str]) -> set[str]:
    """Drop keys inside a section that is read whole."""
    return {k for k in keys if not any(k.startswith(other + ".") for other in keys if other != k)}


# ---- dvc.yaml --------------------------------------------------------------------------------------------------
def _script(cmd: str) -> str | None:
    m = re.search(r"\bpython\s+(stages/\S+\.py)", cmd)
    return m.group(1) if m else None


def _stages(dvc: dict):
    """(name, definition) of every stage; foreach stages by their `do` block."""
    for name, st in dvc["stages"].items():
        yield name, st.get("do", st)


def _listed(st: dict, field: str) -> list[str]:
    out = []
    for item in st.get(field) or []:
        out.extend([item] if isinstance(item, str) else list(item))
    return out


def expected(dvc: dict, root: Path = Path(".")) -> dict[str, tuple[list[str], list[str]]]:
    """stage -> (code deps, params) computed from its script."""
    out = {}
    for name, st in _stages(dvc):
        script = _script(st["cmd"])
        if script is not None:
            out[name] = (code_closure(script, root), params_read(script, root))
    return out


def check(dvc_path: str | Path = "dvc.yaml", root: Path = Path(".")) -> list[str]:
    """Every difference between dvc.yaml and the computed deps, one line each naming the stage and the file/key."""
    import yaml

    dvc = yaml.safe_load(Path(root / dvc_path).read_text())
    want = expected(dvc, root)
    problems = []
    for name, st in _stages(dvc):
        if name not in want:
            problems.append(f"{name}: its cmd runs no stages/*.py script, so its deps cannot be computed")
            continue
        code, params = want[name]
        listed_code = [d for d in _listed(st, "deps") if CODE.match(d)]
        listed_params = _listed(st, "params")
        problems += [f"{name}: imports {f} but does not list it in deps" for f in code if f not in listed_code]
        problems += [f"{name}: lists {f} in deps but does not import it" for f in listed_code if f not in code]
        problems += [f"{name}: reads param {k} but does not list it" for k in params if k not in listed_params]
        problems += [f"{name}: lists param {k} but does not read it" for k in listed_params if k not in params]
    return problems


def write(dvc_path: str | Path = "dvc.yaml", root: Path = Path(".")) -> list[str]:
    """Rewrite every stage's code deps (first, sorted) and params in dvc.yaml, keeping its other deps, comments and
    layout. Returns the stages that changed."""
    from ruamel.yaml import YAML

    y = YAML()
    y.preserve_quotes = True
    y.width = 120
    y.indent(mapping=2, sequence=4, offset=2)
    path = Path(root / dvc_path)
    dvc = y.load(path.read_text())
    want = expected(dvc, root)
    changed = []
    for name, st in _stages(dvc):
        if name not in want:
            continue
        code, params = want[name]
        data = [d for d in (st.get("deps") or []) if not (isinstance(d, str) and CODE.match(d))]
        new_deps, new_params = code + data, params
        if list(st.get("deps") or []) != new_deps or list(st.get("params") or []) != new_params:
            changed.append(name)
        st["deps"] = new_deps
        if new_params and "params" not in st:  # right after deps, where a reader looks for it
            st.insert(list(st).index("deps") + 1, "params", new_params)
        elif new_params:
            st["params"] = new_params
        elif "params" in st:
            del st["params"]
    with open(path, "w") as fh:
        y.dump(dvc, fh)
    return changed
