from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rdrf import context
from rdrf.cli import app
from schemas.errors import RdrfError


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(autouse=True)
def _clean_options(monkeypatch):
    """Global CLI options are process state: reset them and the environment for every test."""
    monkeypatch.delenv("RDRF_WORKSPACE", raising=False)
    monkeypatch.delenv("RDRF_DATABASE_URL", raising=False)
    context.OPTIONS.workspace = None
    context.OPTIONS.quiet = False
    context.OPTIONS.own_process = False  # set by rdrf.cli.main; an in-process test must not inherit it
    yield
    context.OPTIONS.workspace = None
    context.OPTIONS.own_process = False


@pytest.fixture(scope="module")
def one_thread():
    """Torch's intra-op threads fight each other on a small shared CPU (5-10x slower than one thread
    for the tiny models tests train); torch is imported here only by the tests that ask for it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cli():
    """Run `rdrf ARGS...` in-process; an RdrfError becomes exit 1 with its message, like `main`."""

    def run(*args: str, cwd: Path | None = None) -> Result:
        old = Path.cwd()
        if cwd is not None:
            os.chdir(cwd)
        try:
            r = CliRunner().invoke(app, [str(a) for a in args])
        finally:
            os.chdir(old)
        if isinstance(r.exception, RdrfError):
            return Result(r.exception.exit_code, r.stdout, r.stderr + f"error: {r.exception}")
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise r.exception
        return Result(r.exit_code, r.stdout, r.stderr)

    return run


@pytest.fixture
def workspace(tmp_path, cli) -> Path:
    ws = tmp_path / "ws"
    assert cli("init", ws).exit_code == 0
    return ws
