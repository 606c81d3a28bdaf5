"""The studio served for a real browser: Debian's Chromium and its flags, a free localhost port, and
`streamlit run app.py` started headless against a checkpoints folder (tests/e2e and bench/app_latency.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    checkpoints: Path, port: int, tree: Path = ROOT, debug_log: Path | None = None
) -> subprocess.Popen:
    """`streamlit run app.py` of the checkout `tree` headless on localhost; returns once /_stcore/health
    answers. `debug_log`: write the server's debug log there (bench/first_load.py counts script runs)."""
    env = os.environ | {
        "ICLM_CHECKPOINTS_DIR": str(checkpoints),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "PYTHONPATH": str(tree),
    }
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += [
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.fileWatcherType",
        "none",
    ]
    if debug_log is not None:
        command += ["--logger.level", "debug"]
    errors = debug_log.open("wb") if debug_log is not None else subprocess.PIPE
    server = subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = server.stderr.read().decode() if server.stderr else debug_log.read_text()
            raise RuntimeError(f"streamlit exited: {tail[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("streamlit did not answer /_stcore/health within 60 s")
