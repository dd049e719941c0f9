"""A team remote: the pipeline's outputs pushed to a real S3-compatible server started here (moto's server, with the
dvc-s3 plugin), a fresh clone pulls them and finds nothing to rerun."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_e2e import _ran, _run, make_project

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def s3(monkeypatch):
    pytest.importorskip("dvc_s3")
    boto3 = pytest.importorskip("boto3")
    port = _free_port()
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(server), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            boto3.client("s3", endpoint_url=url).create_bucket(Bucket="ud-team")
            break
        except Exception:
            if time.time() > deadline:
                proc.kill()
                raise
            time.sleep(0.3)
    yield url
    proc.kill()
    proc.wait()


def test_push_to_s3_clone_pull_and_nothing_reruns(tmp_path, tiny_model_dir, toy_jsonl, s3):
    proj = make_project(tmp_path, tiny_model_dir, toy_jsonl)
    _run(["dvc", "repro"], proj)
    _run(["dvc", "remote", "add", "-d", "team", "s3://ud-team/cache"], proj)
    _run(["dvc", "remote", "modify", "team", "endpointurl", s3], proj)
    _run(["git", "add", "-A"], proj)
    _run(["git", "commit", "-qm", "run + remote"], proj)
    pushed = _run(["dvc", "push"], proj).stdout + _run(["dvc", "push"], proj).stdout
    assert "Everything is up to date" in pushed  # the second push has nothing left to send

    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(proj), str(clone)], tmp_path)
    assert not (clone / "data/samples/calibration.jsonl.gz").exists()
    _run(["dvc", "pull"], clone)
    assert (clone / "data/samples/calibration.jsonl.gz").read_bytes() == \
        (proj / "data/samples/calibration.jsonl.gz").read_bytes()
    status = _run(["dvc", "status"], clone).stdout
    assert "Data and pipelines are up to date" in status, status
    assert _ran(_run(["dvc", "repro"], clone).stdout) == set()  # a teammate's clone reruns nothing
    shutil.rmtree(clone)
