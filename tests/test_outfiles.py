"""Report files: a path the user names is written, never a device, FIFO or symlink replaced."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dispatcher.errors import ConfigError
from dispatcher.outfiles import check_target, write


def test_a_regular_file_is_replaced_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    target.chmod(0o640)
    write(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_a_symlink_is_followed_not_replaced(tmp_path: Path) -> None:
    real = tmp_path / "reports" / "r.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    write(check_target(link, "--report-json"), "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_dev_null_stays_a_device() -> None:
    write(check_target(Path("/dev/null"), "--report-json"), "{}")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_fifo_with_a_reader_gets_the_report(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write(check_target(fifo, "--junit"), "<xml/>")
    reader.join(60)
    assert got == [b"<xml/>"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_dash_is_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    write(Path("-"), '{"a": 1}\n')
    assert capfd.readouterr().out == '{"a": 1}\n'


@pytest.mark.parametrize("bad", ["dir", "under-a-file"])
def test_what_cannot_be_written_is_refused_before_the_run(tmp_path: Path, bad: str) -> None:
    (tmp_path / "afile").write_text("x")
    path = tmp_path if bad == "dir" else tmp_path / "afile" / "r.json"
    with pytest.raises(ConfigError, match="--report-json"):
        check_target(path, "--report-json")


def _cli(*argv: str, stdout: int | object = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dispatcher", *argv],
        stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120,
    )  # fmt: skip


def test_report_on_stdout_keeps_stdout_pure_json(shared_receiver: object) -> None:
    url = shared_receiver()  # type: ignore[operator]
    done = _cli("run", "--url", url, "--count", "5", "--report-json", "-")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["notifications"]["delivered"] == 5
    assert "summary" in done.stderr  # the console moved to stderr


def test_dev_stdout_redirected_to_a_file_is_not_replaced(
    shared_receiver: object, tmp_path: Path
) -> None:
    url = shared_receiver()  # type: ignore[operator]
    out = tmp_path / "out.log"
    with out.open("w") as stream:
        inode = os.fstat(stream.fileno()).st_ino
        done = _cli("check", "--url", url, "--only", "tolerates-extra-field",
                    "--junit", "/dev/stdout", stdout=stream)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.stat().st_ino == inode
    assert "<testsuites" in out.read_text()


def test_a_place_only_root_seems_to_write_is_refused_before_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """os.access says yes to root for /proc; the check tries instead of asking."""
    from dispatcher.cli import main

    assert main(["run", "--url", "http://127.0.0.1:9/", "--report-json", "/proc/version"]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert "--report-json = '/proc/version'" in err
