"""An HTML template for `dvc plots show --html-template` with Vega, Vega-Lite and Vega-Embed inlined, so the
rendered plots open without network access (DVC's default page loads them from a CDN)."""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from ud.errors import DataError

PACKAGES = {"vega@5": "package/build/vega.min.js", "vega-lite@5": "package/build/vega-lite.min.js",
            "vega-embed@6": "package/build/vega-embed.min.js"}


def npm_pack(spec: str, folder: Path) -> Path:
    """The package's tarball from the npm registry (`npm pack`)."""
    r = subprocess.run(["npm", "pack", spec, "--silent"], cwd=folder, capture_output=True, text=True)
    if r.returncode != 0:
        raise DataError(f"npm pack {spec} failed (is npm installed and its registry reachable?): "
                        f"{r.stderr.strip()[-300:]}")
    return folder / r.stdout.strip().splitlines()[-1]


def offline_template(out: Path, pack: Callable[[str, Path], Path] = npm_pack) -> Path:
    """Write the template to `out`: DVC's placeholders ({refresh_tag}, {plot_divs}) and the three libraries."""
    scripts = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec, member in PACKAGES.items():
            tgz = pack(spec, Path(tmp))
            with tarfile.open(tgz) as tar:
                js = tar.extractfile(member).read().decode()
            js = js.replace("</script>", "<\\/script>")  # keep the inlined code from closing its own tag
            scripts.append(f"<!-- {tgz.name} -->\n<script>{js}</script>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("<!DOCTYPE html>\n<html>\n<head>\n{refresh_tag}\n<meta charset=\"utf-8\">\n<title>ud plots</title>\n"
                   + "\n".join(scripts) + "\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n")
    return out
