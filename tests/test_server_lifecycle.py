"""A server qup starts can be watched and never outlives its stage: its log path is printed when it starts, a line
every few seconds while it loads, the log's last 40 lines on any failure (a server that dies mid-run is a
ServerFailed naming its log, not a bare connection error), and SIGTERM to the stage stops its whole process group.

The fast tests drive a fake server (a small Python HTTP server); the slow one a real SGLang server on CPU.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qup.engines import Sampling, server
from qup.engines.server import ManagedServer, ServerFailed, free_port

REPO = Path(__file__).resolve().parents[1]
SERVING_PYTHON = os.environ.get("QUP_SERVING_PYTHON") or str(REPO / ".venv-serve/bin/python")
FAKE = textwrap.dedent("""
    import os, sys, time, json
    from http.server import BaseHTTPRequestHandler, HTTPServer
    port, mode = int(sys.argv[1]), sys.argv[2]
    for i in range(50):
        print(f"log line {i}", flush=True)
    if mode == "crash":
        sys.exit(2)
    time.sleep(float(os.environ.get("FAKE_LOAD_SECONDS", "0")))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def do_POST(self):
            print("dying mid-request", flush=True)
            os._exit(3)

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
""")


@pytest.fixture
def fake(tmp_path):
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE)

    def command(mode, port):
        return [sys.executable, str(script), str(port), mode]

    return command


def test_a_server_that_fails_to_start_shows_the_last_40_lines_of_its_log(fake, capsys):
    port = free_port()
    with pytest.raises(ServerFailed) as failure:
        ManagedServer(fake("crash", port), port, startup_timeout=60)
    message = str(failure.value)
    assert "exited with code 2 while starting" in message and "log line 49" in message
    assert "log line 10" in message and "log line 9\n" not in message  # the last 40 lines, no more
    log = capsys.readouterr().err.split("log ")[-1].split()[0]
    assert log in message and Path(log).exists()  # the printed log path is the one the error names


def test_a_loading_server_says_how_long_and_what_it_last_logged(fake, capsys, monkeypatch):
    monkeypatch.setattr(server, "LOADING_INTERVAL", 0.5)
    monkeypatch.setenv("FAKE_LOAD_SECONDS", "2")
    port = free_port()
    with ManagedServer(fake("serve", port), port, startup_timeout=60):
        pass
    err = capsys.readouterr().err
    assert f"on http://127.0.0.1:{port}" in err and ".log" in err
    loading = [line for line in err.splitlines() if ": loading, " in line]
    assert loading and "last log line: log line 49" in loading[-1] and "ready after" in err


def test_a_server_that_dies_mid_run_is_a_server_failed_naming_its_log(fake, tiny_model_dir, monkeypatch):
    from qup.engines import sglang

    monkeypatch.setattr(sglang, "sglang_command", lambda *a, port, **k: fake("serve", port))
    engine = sglang.SGLangEngine(str(tiny_model_dir), python=sys.executable, progress=False)
    with engine, pytest.raises(ServerFailed) as failure:
        engine.generate([[{"role": "user", "content": "2 + 2?"}]], 2, Sampling(max_new_tokens=4))
    message = str(failure.value)
    assert "died mid-run (exit code 3" in message and str(engine.server.log_path) in message
    assert "dying mid-request" in message


def processes_in_group(pgid: int) -> list[int]:
    """The live (not zombie) processes whose process group is ``pgid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path(SERVING_PYTHON).exists(), reason="no serving venv: run scripts/serving/setup.sh")
def test_sigterm_to_a_stage_stops_its_real_server_and_every_process_in_its_group(tiny_model_dir):
    stage = textwrap.dedent(f"""
        import time
        from qup.config import EngineParams
        from qup.engines import make_engine

        params = EngineParams.model_validate({{"engine": "sglang", "sglang": {{
            "python": {SERVING_PYTHON!r}, "device": "cpu", "mem_fraction": 0.1,
            "extra_args": ["--skip-server-warmup"]}}}})
        with make_engine(params, {{"id": "m", "path": {str(tiny_model_dir)!r}}}) as engine:
            time.sleep(600)
    """)
    child = subprocess.Popen([sys.executable, "-c", stage], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "process group" not in line:
            line = child.stderr.readline()
            assert line or child.poll() is None, "the stage ended before starting its server"
        pgid = int(line.split("process group ")[1].split(")")[0])
        time.sleep(3)  # the server is loading: its Python and whatever it spawned are in the group
        assert processes_in_group(pgid)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == -signal.SIGTERM  # the stage dies of the signal, as without a server
    finally:
        if child.poll() is None:
            child.kill()
    deadline = time.monotonic() + 10
    while processes_in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_in_group(pgid) == []
