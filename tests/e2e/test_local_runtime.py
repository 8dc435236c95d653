"""The local stack end to end: ``driftline local up`` as a process, and the real handlers on the stack."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UP = "import argparse, sys; from driftline.local.runtime import main_up; sys.exit(main_up(argparse.Namespace(port=0)))"


def _lines(stream, sink):
    for line in stream:
        sink.put(line)
    sink.put(None)


@pytest.mark.e2e
def test_local_up_serves_until_sigterm_then_cleans_up(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env["DRIFTLINE_HOME"] = str(tmp_path)
    env["DRIFTLINE_PROJECT"] = "iris-monitoring"  # the one project whose serving function the HTTP API serves
    proc = subprocess.Popen(
        [sys.executable, "-c", UP],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    out: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, out), daemon=True).start()
    seen = []
    try:
        while not any("Ctrl-C stops it" in line for line in seen):
            line = out.get(timeout=60)
            assert line is not None, f"local up ended early: {''.join(seen)}"
            seen.append(line)
        text = "".join(seen)
        api_url = re.search(r"HTTP API\s+(http://127\.0\.0\.1:\d+)", text).group(1)
        assert re.search(r"AWS \(moto\)\s+http://127\.0\.0\.1:\d+", text)
        assert str(tmp_path / "local-stack.json") in text
        state = json.loads((tmp_path / "local-stack.json").read_text())
        assert (state["pid"], state["settings"]["api_url"]) == (proc.pid, api_url)
        with urllib.request.urlopen(f"{api_url}/_local/status", timeout=30) as answer:
            status = json.loads(answer.read())
        assert status["settings"]["lambda_endpoint_url"] == api_url
        assert status["settings"]["project"] == "iris-monitoring"
        assert "serves project 'iris-monitoring'" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0
    assert not (tmp_path / "local-stack.json").exists()
