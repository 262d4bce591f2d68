"""The workspace itself failing: a missing or corrupt catalogue, a read-only workspace, a full disk.
Each is one clear error naming the file or folder, and nothing stored is lost or changed."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from tests.images import textured, write_jpeg
from tests.test_foundation_import import catalogue_dump, make_shoot, tree

from schemas.errors import WorkspaceError


def rdrf(*args, cwd: Path) -> subprocess.CompletedProcess:
    """The real entry point: the message, the exit code, no traceback."""
    return subprocess.run([sys.executable, "-m", "rdrf", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], check=False, capture_output=True).returncode == 0


@contextmanager
def read_only_view(folder: Path):
    """`folder` seen read-only: a read-only bind mount as root (permission bits stop no root), the
    write bits removed otherwise."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in (folder, *folder.rglob("*"))}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield folder
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    view = folder.with_name(folder.name + "-ro")
    view.mkdir()
    if not _mount("--bind", str(folder), str(view)):
        pytest.skip("cannot bind-mount here (needs CAP_SYS_ADMIN)")
    try:
        if not _mount("-o", "remount,ro,bind", str(view)):
            pytest.skip("cannot remount read-only here")
        yield view
    finally:
        subprocess.run(["umount", "--lazy", str(view)], check=True)


@pytest.fixture
def imported(workspace, cli, tmp_path) -> Path:
    assert cli("import", make_shoot(tmp_path / "shoot"), cwd=workspace).exit_code == 0
    return workspace


# -- a missing or corrupt catalogue ---------------------------------------------------------------


def test_a_deleted_catalogue_is_reported_never_recreated_by_a_read_only_command(imported, cli):
    (imported / "catalogue.sqlite").unlink()
    for command in ("status", "scenes", "verify"):
        r = cli(command, cwd=imported)
        assert r.exit_code == 1, (command, r.output)
        assert "catalogue.sqlite is missing" in r.output and "originals" in r.output and "backup" in r.output
        assert not (imported / "catalogue.sqlite").exists()
    # not even `rdrf init`: an empty catalogue beside the originals would hide them all
    r = cli("init", imported)
    assert r.exit_code == 1 and "already holds originals" in r.output and not (imported / "catalogue.sqlite").exists()


def test_a_missing_catalogue_of_an_empty_workspace_points_at_init(workspace, cli):
    (workspace / "catalogue.sqlite").unlink()
    r = cli("status", cwd=workspace)
    assert r.exit_code == 1 and "is missing" in r.output and "rdrf init" in r.output
    assert cli("init", workspace).exit_code == 0 and cli("status", cwd=workspace).exit_code == 0


def test_a_corrupt_catalogue_is_one_clear_error_and_is_left_as_it_is(imported):
    db = imported / "catalogue.sqlite"
    garbage = b"these bytes are not a SQLite database " * 200
    db.write_bytes(garbage)
    for command in ("status", "verify"):
        r = rdrf(command, cwd=imported)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert f"{db}: not a readable rdrf catalogue" in r.stderr and "file is not a database" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == garbage


def test_workspace_option_naming_a_file_says_so(tmp_path, cli):
    f = tmp_path / "file.txt"
    f.write_text("")
    r = cli("--workspace", f, "status")
    assert r.exit_code == 2 and "is a file, not a folder" in r.output and "rdrf init" not in r.output


# -- a read-only workspace ------------------------------------------------------------------------


def test_read_only_commands_work_on_a_read_only_workspace(imported, cli, tmp_path):
    before = catalogue_dump(imported), tree(imported)
    expected = {c: cli(c, "--json", cwd=imported).stdout for c in ("status", "scenes", "shots", "pairs")}
    with read_only_view(imported) as ro:
        for command in ("status", "scenes", "shots", "pairs"):
            r = rdrf(command, "--json", cwd=ro)
            assert r.returncode == 0 and "Traceback" not in r.stderr, (command, r.stderr)
            assert r.stdout == expected[command].replace(str(imported), str(ro))
        r = rdrf("verify", cwd=ro)
        assert r.returncode == 0 and "ok: 7 files checked" in r.stdout, r.stdout + r.stderr
        r = rdrf("report", "--out", tmp_path / "qa", cwd=ro)
        assert r.returncode == 0 and (tmp_path / "qa" / "report.html").is_file(), r.stderr
        # a command that writes: one line naming the folder
        for args in (("import", tmp_path / "shoot"), ("split",), ("report",), ("init", ro)):
            r = rdrf(*args, cwd=ro)
            assert r.returncode == 1 and "Traceback" not in r.stderr, (args, r.stderr)
            assert "is read-only" in r.stderr and str(ro) in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (catalogue_dump(imported), tree(imported)) == before


# -- a full disk ----------------------------------------------------------------------------------


def test_a_full_disk_while_storing_names_the_path_and_the_space_and_leaves_no_temporary(tmp_path, monkeypatch):
    from schemas import storage

    real_write = storage.StreamWriter.write

    def write_until_full(self, data):  # the disk takes 11 bytes, then is full
        real_write(self, data[:11])
        self.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.StreamWriter, "write", write_until_full)
    dest = tmp_path / "out" / "big.bin"
    with pytest.raises(WorkspaceError) as err:
        storage.durable_write(b"x" * 5000, dest)
    message = str(err.value)
    assert str(dest) in message and "no space left" in message and "5,000 bytes needed" in message and "bytes free" in message
    assert list(dest.parent.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only); skipped where mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)):
        pytest.skip("cannot mount a small tmpfs here")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)


def test_import_onto_a_full_disk_is_one_error_and_changes_nothing(small_disk, cli, tmp_path):
    ws = small_disk / "ws"
    assert cli("init", ws).exit_code == 0
    scene = tmp_path / "shoot" / "1"
    write_jpeg(scene / "gt.jpg", textured(48, 64, 0))
    (scene / "lq").mkdir()
    # a degraded "shot" larger than the disk: a valid PNG padded with noise the decoder ignores
    big = textured(600, 800, 1)
    import cv2

    ok, png = cv2.imencode(".png", big, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert ok and len(png) > 1_000_000
    (scene / "lq" / "0001.png").write_bytes(png.tobytes())
    before = catalogue_dump(ws), tree(ws)
    r = rdrf("import", tmp_path / "shoot", cwd=ws)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "no space left on the device" in r.stderr and "originals/1/lq-001/0001.png" in r.stderr and "bytes free" in r.stderr, r.stderr
    assert (catalogue_dump(ws), tree(ws)) == before


def test_a_catalogue_that_cannot_grow_on_a_full_disk_is_one_clear_error(small_disk, cli, tmp_path):
    ws = small_disk / "ws"
    assert cli("init", ws).exit_code == 0
    write_jpeg(tmp_path / "shoot" / "1" / "gt.jpg", textured(48, 64, 0))
    write_jpeg(tmp_path / "shoot" / "1" / "lq" / "a.jpg", textured(48, 64, 1))
    before = catalogue_dump(ws)
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # every last byte
        for size in (65536, 4096, 512, 1):
            while os.write(fd, b"\0" * size) == size:
                pass
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    r = rdrf("import", tmp_path / "shoot", cwd=ws)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "no space left on the device" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    filler.unlink()
    assert catalogue_dump(ws) == before


def test_a_full_disk_met_outside_storage_is_still_one_line(monkeypatch, capsys, tmp_path):
    from rdrf import cli, context

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "aligned" / "x.png"))

    monkeypatch.setattr(context, "open_catalogue", full)
    monkeypatch.setattr(context.OPTIONS, "own_process", False)  # main() sets it; restored after the test
    with pytest.raises(SystemExit) as code:
        cli.main(["status"])
    err = capsys.readouterr().err
    assert code.value.code == 1 and "Traceback" not in err
    assert f"{tmp_path / 'aligned' / 'x.png'}: no space left on the device" in err and "bytes free" in err


def test_align_onto_a_full_disk_is_one_error_and_leaves_the_pairs_pending(workspace, cli, tmp_path, monkeypatch):
    """Alignment writes its outputs through schemas.storage: a full disk stops it with one line
    naming the output, and no pair is marked as aligned (or failed) for it."""
    import cv2
    from tests.align_synth import make_pair, random_homography

    from schemas import storage

    gt, lq = make_pair(320, 224, random_homography(320, 224, 8, np.random.default_rng(1)), 1)
    for name, img in (("gt.jpg", gt), ("lq/0001.jpg", lq)):
        path = tmp_path / "shoot" / "1" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), img)
    assert cli("import", tmp_path / "shoot", cwd=workspace).exit_code == 0
    before = cli("pairs", "--json", cwd=workspace).stdout

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.StreamWriter, "write", full)
    r = cli("align", "--all", "--workers", "1", cwd=workspace)
    assert r.exit_code == 1 and "no space left on the device" in r.output and "aligned/" in r.output, r.output
    monkeypatch.undo()
    assert cli("pairs", "--json", cwd=workspace).stdout == before
    assert not [p for p in (workspace / "aligned").rglob("*") if p.is_file() and storage.is_temporary(p)]
