"""What a person at a terminal sees from `idp`, and what a pipe gets."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from idp.settings import Settings


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({"IDP_KEYS_DIR": str(tmp_path / "keys"), **extra})
    return env


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run `python -m idp.cli args` with stdout and stderr on a pseudo-terminal."""
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "idp.cli", *args], env=env, stdout=child, stderr=child,
                               stdin=subprocess.DEVNULL)
    os.close(child)
    output = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=30)
    os.close(main)
    assert process.returncode == 0, output
    return output.decode().replace("\r\n", "\n")


def test_keys_rotate_on_a_terminal_prints_text_and_no_json(tmp_path: Path) -> None:
    env = _env(tmp_path)
    subprocess.run([sys.executable, "-m", "idp.cli", "keys", "rotate", "--create"], env=env, check=True,
                   capture_output=True)
    output = _on_a_terminal(["keys", "rotate"], env)
    assert "added key" in output and "key.rotated" in output
    assert not any(line.lstrip().startswith("{") for line in output.splitlines()), output


def test_keys_rotate_into_a_pipe_logs_json_on_stderr_and_text_on_stdout(tmp_path: Path) -> None:
    env = _env(tmp_path)
    subprocess.run([sys.executable, "-m", "idp.cli", "keys", "rotate", "--create"], env=env, check=True,
                   capture_output=True)
    result = subprocess.run([sys.executable, "-m", "idp.cli", "keys", "rotate"], env=env, capture_output=True,
                            text=True, check=True)
    assert "added key" in result.stdout and "{" not in result.stdout
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["event"] for e in events if "event" in e] == ["key.rotated"]


def test_an_unknown_idp_variable_is_named_in_one_warning(tmp_path: Path) -> None:
    env = _env(tmp_path, IDP_ACESS_TOKEN_TTL="60", IDP_KEYS_DIRR="x", IDP_PORT="8001")
    result = subprocess.run([sys.executable, "-m", "idp.cli", "keys", "rotate", "--create"], env=env,
                            capture_output=True, text=True, check=True)
    warnings = [json.loads(line) for line in result.stderr.splitlines() if "unknown environment" in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert "IDP_ACESS_TOKEN_TTL, IDP_KEYS_DIRR" in warnings[0]["message"]
    assert "IDP_PORT" not in warnings[0]["message"]


def test_every_setting_is_a_known_variable() -> None:
    known = {name: "1" for name, _, _ in Settings.variables()}
    assert Settings.unknown_variables(known) == []
    assert Settings.unknown_variables({"IDP_TEST_MONGO_URI": "x", "IDP_X": "1", "PATH": "/"}) == ["IDP_X"]


def test_scripts_idp_runs_the_venvs_idp_with_its_arguments(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([str(root / "scripts" / "idp"), "keys", "rotate", "--create"], env=_env(tmp_path),
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"keys folder: {(tmp_path / 'keys').resolve()}" in result.stdout
    assert (tmp_path / "keys").is_dir()
