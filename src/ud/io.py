"""JSON-lines and JSON artifacts, written atomically so a killed stage never leaves half a file."""

from __future__ import annotations

import gzip
import json
import os
import platform
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ud.errors import DataError


def _open(path: Path, mode: str):
    return gzip.open(path, mode + "t", encoding="utf-8") if path.suffix == ".gz" else open(path, mode, encoding="utf-8")


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write records to a temp file beside `path`, then rename over it. Returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    n = 0
    try:
        with open(tmp, "wb") as raw:
            # no name and mtime=0 in the gzip header: identical records give identical bytes (stable DVC hashes)
            fh = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) if path.suffix == ".gz" else raw
            for rec in records:
                fh.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
                n += 1
            if fh is not raw:
                fh.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return n


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist (run the stage that writes it, e.g. `dvc repro`)")
    with _open(path, "r") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None


def read_appended_jsonl(path: str | os.PathLike) -> list[dict]:
    """Records of a JSONL file that a run appends to as it goes (a resumable log). Only the last line can be cut by
    a kill: it is removed from the file (so the next append starts a fresh line) and its work is done again; an
    unreadable line anywhere else is damage, never skipped."""
    import sys

    path = Path(path)
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    records = []
    for lineno, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if lineno < len(lines):
                raise DataError(f"{path}:{lineno}: not valid JSON, and not the last line (which a killed run may "
                                "cut): the file is damaged; repair or delete it") from None
            print(f"{path}: its last line was cut (a killed run); that entry is made again", file=sys.stderr)
            with open(path, "r+b") as fh:
                fh.truncate(len(data) - len(line))
            return records
    if data and not data.endswith(b"\n"):  # a whole last record whose newline was not written yet
        with open(path, "ab") as fh:
            fh.write(b"\n")
    return records


def write_json(path: str | os.PathLike, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, path)


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist (run the stage that writes it, e.g. `dvc repro`)")
    return json.loads(path.read_text(encoding="utf-8"))


def versions() -> dict[str, str]:
    """Library versions recorded next to every expensive artifact."""
    out = {"python": platform.python_version()}
    for mod in ("ud", "torch", "transformers", "trl", "peft", "vllm"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # not installed (vllm on CPU) is normal
            continue
    return out
