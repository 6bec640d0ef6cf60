"""`make demo` stops before migrating when its port is taken, saying which and what to do."""

import socket
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "port_free.py"


def run(port):
    return subprocess.run([sys.executable, str(SCRIPT), "127.0.0.1", str(port)], capture_output=True, text=True)


def test_a_taken_port_is_refused_with_the_next_one_suggested():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        taken = run(port)
    assert taken.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in taken.stderr and f"PORT={port + 1} make demo" in taken.stderr


def test_a_free_port_passes():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert run(port).returncode == 0
