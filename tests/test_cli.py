import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from ud.cli import app

ROOT = Path(__file__).parents[1]
runner = CliRunner()


def test_validate_reports_bad_params(tmp_path):
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["bins"] = 1
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(p))
    r = runner.invoke(app, ["validate", "--params", str(f)])
    assert r.exit_code == 2 and "bins=1: must be >= 2" in r.output


def test_profile_copies_after_validating(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles/x.yaml").write_text((ROOT / "params.yaml").read_text().replace("bins: 5 ", "bins: 7 "))
    r = runner.invoke(app, ["profile", "x", "--params", "params.yaml"])
    assert r.exit_code == 0 and yaml.safe_load((tmp_path / "params.yaml").read_text())["bins"] == 7
    r = runner.invoke(app, ["profile", "nope"])
    assert r.exit_code == 2 and "available: ['x']" in r.output


def test_show_lists_methods(tmp_path):
    m = {"method": "ud", "n": 10, "auroc": 0.71, "auroc_ci": [0.6, 0.8], "accuracy": 0.5, "high_acc": 0.8,
         "high_pct": 40.0, "ece": 0.05, "brier": 0.2, "invalid_rate": 0.0}
    (tmp_path / "ud.json").write_text(json.dumps(m))
    (tmp_path / "calibration.json").write_text(json.dumps({"ece_before": 0.1}))
    r = runner.invoke(app, ["show", str(tmp_path)], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "0.710" in r.output and "0.60-0.80" in r.output


def test_ask_answers_with_an_option_and_a_label_and_open_questions_too(tmp_path, monkeypatch, tiny_model_dir):
    import re
    import shutil

    from ud.method.binning import Binner

    model = tmp_path / "m"
    shutil.copytree(tiny_model_dir, model)
    (model / "ud_model.json").write_text(json.dumps({"base": tiny_model_dir, "method": "full"}))
    (tmp_path / "models").mkdir()
    (tmp_path / "models/binner.json").write_text(json.dumps(Binner.fixed(5).to_json()))
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["ask", "What color is the sky?", "-c", "blue", "-c", "red", "--model-dir", str(model)])
    assert r.exit_code == 0, r.output
    last = r.stdout.replace("\r", "\n").strip().splitlines()[-1]
    assert re.fullmatch(r"(blue|red) \[(very low|low|medium|high|very high) confidence; expected confidence "
                        r"0\.\d\d\]", last)
    r = runner.invoke(app, ["ask", "What color is the sky?", "--model-dir", str(model)])  # open: no options
    assert r.exit_code == 0, r.output
    last = r.stdout.replace("\r", "\n").strip().splitlines()[-1]
    assert re.fullmatch(r".+ \[((very low|low|medium|high|very high) confidence; expected confidence 0\.\d\d|"
                        r"confidence unreadable confidence)\]", last)


def test_params_lists_every_knob_with_its_meaning():
    r = runner.invoke(app, ["params", "train."], env={"COLUMNS": "250"})
    assert r.exit_code == 0 and "train.scheduler" in r.output and "learning-rate schedule" in r.output
    assert "sample.n" not in r.output


def test_dvc_deps_check_passes_on_the_repo_and_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = runner.invoke(app, ["dvc-deps"])
    assert r.exit_code == 0, r.output
    broken = tmp_path / "dvc.yaml"
    broken.write_text((ROOT / "dvc.yaml").read_text().replace("      - src/ud/method/calibrate.py\n", "", 1))
    r = runner.invoke(app, ["dvc-deps", "--dvc-file", str(broken)])
    assert r.exit_code == 1 and "imports src/ud/method/calibrate.py but does not list it in deps" in r.output


def test_stage_times_reads_a_stamped_log_and_adds_reused_stages(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("100 Running stage 'prepare':\n101 > python stages/prepare.py\n"
                   "130 Running stage 'sample@test':\n130 Running stage 'sample@test':\n"
                   "400 Running stage 'train':\nnoise without a stamp\n1000 EXIT 0 TOTAL 900 s\n")
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps({"stages_s": {"sample@test": 50, "evaluate": 70}}))
    out = tmp_path / "times.json"
    r = runner.invoke(app, ["stage-times", str(log), "--json", str(out), "--reused", str(earlier),
                            "--reused", "evaluate"])
    assert r.exit_code == 0, r.output
    t = json.loads(out.read_text())
    assert t["stages_s"] == {"prepare": 30, "sample@test": 270, "train": 600} and t["total_s"] == 900
    assert t["exit"] == 0 and t["reused"]["stages_s"] == {"evaluate": 70} and t["total_with_reused_s"] == 970
    log.write_text("100 Running stage 'prepare':\n")  # killed: no EXIT line
    r = runner.invoke(app, ["stage-times", str(log)])
    assert r.exit_code == 2 and "has not finished" in r.output


def test_fetch_names_the_models_it_can_fetch(tmp_path):
    r = runner.invoke(app, ["fetch", "llama-9000", str(tmp_path)])
    assert r.exit_code == 2 and "qwen2.5-coder-1.5b-instruct" in r.output
    (tmp_path / "config.json").write_text("{}")
    r = runner.invoke(app, ["fetch", "qwen2.5-coder-1.5b-instruct", str(tmp_path)])
    assert r.exit_code == 0 and "exists" in r.output  # an existing folder is never fetched again


def test_plots_template_inlines_each_library_and_keeps_dvcs_placeholders(tmp_path):
    import io as _io
    import tarfile

    from ud.tools import plots

    def pack(spec, folder):  # an npm tarball holding one script that tries to close its own tag
        tgz = folder / f"{spec.split('@')[0]}.tgz"
        with tarfile.open(tgz, "w:gz") as tar:
            body = f"var lib='{spec}';'</script>'".encode()
            info = tarfile.TarInfo(plots.PACKAGES[spec])
            info.size = len(body)
            tar.addfile(info, _io.BytesIO(body))
        return tgz

    html = plots.offline_template(tmp_path / "plots/offline.html", pack=pack).read_text()
    assert "{refresh_tag}" in html and "{plot_divs}" in html
    assert [s in html for s in ("var lib='vega@5'", "var lib='vega-lite@5'", "var lib='vega-embed@6'")] == [True] * 3
    assert html.count("</script>") == 3 and "<\\/script>" in html
