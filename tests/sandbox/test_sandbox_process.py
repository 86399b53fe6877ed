"""`python -m services.sandbox` as a real process: serves over HTTP, exits 0 on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "the sandbox exited during start-up"
        try:
            if httpx.get(f"{base_url}/_sandbox/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"the sandbox did not answer within {STARTUP_TIMEOUT_SECONDS} s")


def test_the_module_serves_over_http_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SANDBOX_")}
    env |= {
        "SANDBOX_HOST": "127.0.0.1",
        "SANDBOX_PORT": str(port),
        "SANDBOX_API_KEY": "process-test-key",
        "SANDBOX_LATENCY_MS": "20",
        "SANDBOX_LOG_LEVEL": "debug",
    }
    log_path = tmp_path / "sandbox.log"
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.sandbox"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(base_url, process)
            response = httpx.get(
                f"{base_url}/api/v1/instagram/v1/fetch_user_info_by_username_v3",
                params={"username": "natgeo"},
                headers={"Authorization": "Bearer process-test-key"},
                timeout=5,
            )
            refused = httpx.get(
                f"{base_url}/api/v1/instagram/v1/fetch_user_info_by_username_v3",
                params={"username": "natgeo"},
                headers={"Authorization": "Bearer wrong-key"},
                timeout=5,
            )
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = log_path.read_text()
    assert response.status_code == 200, output
    assert response.json()["data"]["username"] == "natgeo"
    assert response.headers["x-request-id"] == response.json()["request_id"]
    assert refused.status_code == 401
    assert exit_code == 0, output
    assert "sandbox.stopped" in output
    # Debug logging writes a line per request, and never the key.
    assert "sandbox.request" in output
    assert "process-test-key" not in output
    assert "wrong-key" not in output
