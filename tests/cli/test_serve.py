"""`marquee serve` takes its address before loading anything: a busy port is a one-line error
with its own exit code, and "serving on" is printed only by a server that holds its port."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from marquee.cli.main import app
from tests.cli.toy import import_toy

ADDRESS_IN_USE = 8


@pytest.fixture
def busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_busy_port_is_a_one_line_error_before_anything_loads(tmp_path, busy_port):
    # The home holds no dataset and no model: were they loaded first, this would fail otherwise.
    result = CliRunner().invoke(app, ["serve", "--port", str(busy_port), "--home", str(tmp_path / "empty")])
    assert result.exit_code == ADDRESS_IN_USE, result.output
    assert f"127.0.0.1:{busy_port} is already in use" in result.output and "choose another --port" in result.output
    assert "serving on" not in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "empty" / "datasets").exists()


def test_unresolvable_host_is_a_config_error(tmp_path):
    result = CliRunner().invoke(app, ["serve", "--host", "no-such-host.invalid", "--port", "0", "--home", str(tmp_path)])
    assert result.exit_code == 2 and "--host 'no-such-host.invalid'" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_a_second_server_on_the_same_port_refuses_and_the_first_keeps_serving(tmp_path):
    home = tmp_path / "home"
    import_toy(tmp_path, home)
    assert CliRunner().invoke(app, ["train", "ease", "-d", "toy", "--no-tune", "--home", str(home)]).exit_code == 0
    env = {**os.environ, "MARQUEE_HOME": str(home)}
    env.pop("MARQUEE_ADMIN_TOKEN", None)
    serve = [sys.executable, "-c", "from marquee.cli.main import main; main()", "serve", "-d", "toy", "--heavy", "ease@production",
             "--light", "", "--no-artwork", "--log-level", "warning"]  # fmt: skip
    with subprocess.Popen([*serve, "--port", "0"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) as first:
        try:
            deadline = time.monotonic() + 60
            lines: list[str] = []
            while not any("serving on" in line for line in lines):
                assert time.monotonic() < deadline and first.poll() is None, "".join(lines)
                lines.append(first.stderr.readline())
            url = lines[-1].split("serving on ", 1)[1].split(" ", 1)[0]
            port = int(url.rsplit(":", 1)[1])
            while True:  # uvicorn takes the address again a moment after "serving on"
                try:
                    httpx.get(f"{url}/readyz", timeout=10)
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline and first.poll() is None, "the server never listened"
                    time.sleep(0.05)
            answer = httpx.post(f"{url}/v1/recommendations", json={"member_id": 3, "k": 3}, timeout=10).json()
            assert answer["model_version"] == "ease:1" and len(answer["items"]) == 3

            second = subprocess.run([*serve, "--port", str(port)], env=env, capture_output=True, text=True, timeout=60)
            assert second.returncode == ADDRESS_IN_USE, second.stderr
            assert f"127.0.0.1:{port} is already in use" in second.stderr
            assert "serving on" not in second.stderr and "Traceback" not in second.stderr
            assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        finally:
            first.send_signal(signal.SIGINT)
            try:
                first.wait(timeout=30)
            except subprocess.TimeoutExpired:
                first.kill()
                first.wait()
