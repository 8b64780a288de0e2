"""What the benchmarks share: a free loopback port, and nginx as a fast receiver."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  {access_log}
  client_body_temp_path {tmp};
  proxy_temp_path {tmp};
  fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp};
  scgi_temp_path {tmp};
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    keepalive_requests 1000000;
    location / {{ return 200 "ok"; }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def start_nginx(
    tmp: Path, port: int, *, arrivals_log: Path | None = None
) -> subprocess.Popen[bytes]:
    """nginx answering `return 200` on 127.0.0.1:port; with `arrivals_log`, each request's
    arrival time (`$msec`) is written there."""
    binary = nginx_binary()
    assert binary is not None, "nginx is not installed"
    access_log = (
        f"log_format arrival '$msec'; access_log {arrivals_log} arrival buffer=256k flush=100ms;"
        if arrivals_log
        else "access_log off;"
    )
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, access_log=access_log))
    proc = subprocess.Popen([binary, "-c", str(conf), "-g", "daemon off;"])
    wait_listening(port)
    return proc
