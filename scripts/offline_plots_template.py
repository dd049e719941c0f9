"""Build plots/offline.html: a `dvc plots show --html-template` with Vega, Vega-Lite and Vega-Embed inlined, so the
rendered plots open without network access (DVC's default page loads them from a CDN).

    python scripts/offline_plots_template.py            # fetches the three packages from the npm registry
    dvc plots show --html-template plots/offline.html   # then open dvc_plots/index.html offline
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGES = {"vega@5": "package/build/vega.min.js", "vega-lite@5": "package/build/vega-lite.min.js",
            "vega-embed@6": "package/build/vega-embed.min.js"}
OUT = Path(__file__).parents[1] / "plots" / "offline.html"


def main() -> None:
    scripts = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec, member in PACKAGES.items():
            r = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"npm pack {spec} failed (is the npm registry reachable?): {r.stderr.strip()[-300:]}")
            tgz = Path(tmp) / r.stdout.strip().splitlines()[-1]
            with tarfile.open(tgz) as tar:
                js = tar.extractfile(member).read().decode()
            js = js.replace("</script>", "<\\/script>")  # keep the inlined code from closing its own tag
            scripts.append(f"<!-- {tgz.name} -->\n<script>{js}</script>")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("<!DOCTYPE html>\n<html>\n<head>\n{refresh_tag}\n<meta charset=\"utf-8\">\n<title>ud plots</title>\n"
                   + "\n".join(scripts) + "\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
