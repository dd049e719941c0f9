"""Drop dvc.lock entries of stages that dvc.yaml no longer defines (DVC keeps them when a stage is renamed or
removed; they name files that no longer exist and confuse anyone reading the lock).

    python scripts/prune_lock.py [dvc.lock ...]   (default: dvc.lock; stage names come from ./dvc.yaml)
"""

from __future__ import annotations

import sys

from ruamel.yaml import YAML


def defined_stages(dvc_yaml: str = "dvc.yaml") -> set[str]:
    stages = set()
    for name, st in YAML(typ="safe").load(open(dvc_yaml))["stages"].items():
        items = st.get("foreach")
        stages |= {f"{name}@{i}" for i in items} if items is not None else {name}
    return stages


def main() -> None:
    keep = defined_stages()
    yaml = YAML()
    yaml.width = 4096
    for path in sys.argv[1:] or ["dvc.lock"]:
        lock = yaml.load(open(path))
        gone = [n for n in lock["stages"] if n not in keep]
        for n in gone:
            del lock["stages"][n]
        with open(path, "w") as fh:
            yaml.dump(lock, fh)
        print(f"{path}: dropped {len(gone)} stage(s) not in dvc.yaml: {', '.join(gone) or '-'}")


if __name__ == "__main__":
    main()
