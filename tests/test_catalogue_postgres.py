"""The catalogue on PostgreSQL (RDRF_DATABASE_URL, issue 13): migrations, import, capture on the virtual
camera, align, export and verify against a real server - a throw-away cluster this module starts with
the PostgreSQL binaries (initdb, pg_ctl) and removes afterwards, so no server or state is needed.
Skipped only where those binaries are not installed (Debian: apt-get install postgresql)."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.test_capture_cli import VIRTUAL
from tests.test_foundation_import import make_shoot


def _pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


@pytest.fixture(scope="module")
def pg_server():
    """A private PostgreSQL cluster on a Unix socket in a temp folder: (socket folder, superuser)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("psycopg is not installed: run `make install` (it installs the 'postgres' extra: pip install -e '.[postgres]')")
    run_as: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="rdrf-pg-"))  # short: a Unix socket path has ~100 characters
    if os.geteuid() == 0:  # initdb refuses to run as root: the cluster belongs to the 'postgres' user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, and there is no 'postgres' user to own a test cluster (Debian's postgresql package makes it)")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"
    try:
        subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--locale=C", "--no-sync"], check=True, capture_output=True)
        opts = f"-c listen_addresses='' -c unix_socket_directories='{root}' -c fsync=off -c max_connections=40"
        r = subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w", "start"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr + (log.read_text() if log.exists() else "")
        yield root, "postgres"
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database(pg_server, request):
    """A fresh empty database of the test cluster; its URL as a user writes it (no driver named)."""
    import psycopg

    sock, user = pg_server
    name = "rdrf_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
    with psycopg.connect(host=str(sock), user=user, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://{user}@/{name}?host={sock}"


def rows(url: str, sql: str) -> list[tuple]:
    import psycopg

    from schemas.workspace import database_url

    u = database_url(url)
    with psycopg.connect(host=u.query["host"], user=u.username, dbname=u.database) as conn:
        return conn.execute(sql).fetchall()


def test_the_whole_pipeline_on_postgresql(database, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("RDRF_DATABASE_URL", database)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    ws = tmp_path / "ws"
    r = cli("init", ws)
    assert r.exit_code == 0, r.output
    assert not (ws / "catalogue.sqlite").exists()  # the catalogue is the server's
    from schemas.migrate import head_revision

    assert rows(database, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    with open(ws / "rdrf.toml", "a") as f:
        f.write(VIRTUAL)

    r = cli("-w", ws, "import", make_shoot(tmp_path / "shoot"))
    assert r.exit_code == 0, r.output
    r = cli("-w", ws, "capture", "--camera", "virtual", "--scene", "17", "--glass", "5mm", "--lq", "3", "--yes")
    assert r.exit_code == 0, r.output
    assert "scene 17: 1 GT and 3 degraded shot(s)" in r.stderr

    shots = json.loads(cli("-w", ws, "shots", "--json").stdout)
    assert sorted((s["scene"], s["role"], s["index"]) for s in shots) == [
        ("1", "gt", 1), ("1", "lq", 1), ("1", "lq", 2), ("17", "gt", 1), ("17", "gt", 2),  # opening + closing GT
        ("17", "lq", 1), ("17", "lq", 2), ("17", "lq", 3), ("2", "gt", 1), ("2", "lq", 1),
    ]
    assert rows(database, "SELECT count(*) FROM shots") == [(10,)]
    assert rows(database, "SELECT category, notes FROM scenes WHERE label = '1'") == [("signs & markers", "bus stop")]
    qa = next(s["qa"] for s in shots if s["scene"] == "17" and s["role"] == "lq")
    assert qa["files"] == 2 and len(qa["virtual_truth"]["homography"]) == 3  # JSON columns round-trip

    r = cli("-w", ws, "align", "--all")
    assert r.exit_code == 0, r.output
    pairs = json.loads(cli("-w", ws, "pairs", "--json").stdout)
    assert len(pairs) == 6 and all(p["status"] in ("ok", "rejected") for p in pairs), pairs
    assert rows(database, "SELECT count(*) FROM alignments") == [(6,)]
    ok = sorted(p["pair_id"] for p in pairs if p["status"] == "ok")
    assert ok, [p.get("reason") for p in pairs]

    r = cli("-w", ws, "export", "--split", "all", "--size", "original", "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    manifest = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(m["pair_id"] for m in manifest) == ok
    for m in manifest:
        for role in ("gt", "lq", "mask"):
            assert (tmp_path / "out" / m[role]).is_file()
    assert rows(database, "SELECT n_records FROM exports") == [(len(ok),)]

    r = cli("-w", ws, "verify")
    assert r.exit_code == 0, r.output
    r = cli("-w", ws, "status", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["scenes"] == 3


@pytest.mark.slow  # ~8 s; the SQLite twin (test_capture_concurrent.py) runs by default, CI runs this with -m slow
def test_two_rigs_at_once_into_one_postgresql_catalogue(database, cli, tmp_path, monkeypatch):
    from tests.test_capture_concurrent import two_rigs

    monkeypatch.setenv("RDRF_DATABASE_URL", database)  # the capture processes inherit it
    ws = tmp_path / "ws"
    assert cli("init", ws).exit_code == 0
    with open(ws / "rdrf.toml", "a") as f:
        f.write(VIRTUAL)
    two_rigs(ws, cli, tmp_path)
    from tests.test_capture_concurrent import LQ

    assert rows(database, "SELECT count(*) FROM shots") == [(2 * (2 + LQ),)]  # opening + closing GT per scene


def test_migrations_on_postgresql_match_the_orm_models(database):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from schemas.catalogue import Base
    from schemas.migrate import upgrade
    from schemas.workspace import make_engine

    engine = make_engine(database)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"ORM and migrations disagree on PostgreSQL: {diff}"


def test_a_database_without_a_catalogue_is_refused_not_filled(database, cli, tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    assert cli("init", ws).exit_code == 0  # a SQLite workspace; its commands now look at an empty database
    monkeypatch.setenv("RDRF_DATABASE_URL", database)
    r = cli("-w", ws, "status")
    assert r.exit_code == 1, r.output
    assert "holds no rdrf catalogue; make one there with `rdrf init" in r.output and "Traceback" not in r.output
    assert rows(database, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_a_server_that_is_not_there_is_one_line(cli, workspace, monkeypatch, tmp_path):
    pytest.importorskip("psycopg")
    monkeypatch.setenv("RDRF_DATABASE_URL", f"postgresql://rdrf:secret@/nothing?host={tmp_path}")
    r = cli("-w", workspace, "status")
    assert r.exit_code == 1, r.output
    assert "the catalogue cannot be used (PostgreSQL: connection" in r.output and "database server running" in r.output
    assert "secret" not in r.output and "Traceback" not in r.output


def test_without_the_driver_a_postgresql_url_names_the_extra(cli, workspace, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as in a core install: `import psycopg` fails
    monkeypatch.setenv("RDRF_DATABASE_URL", "postgresql://rdrf@db.example/rdrf")
    r = cli("-w", workspace, "status")
    assert r.exit_code == 2, r.output
    assert "names a PostgreSQL catalogue, which needs the 'postgres' extra" in r.output
    assert "pip install 'rdrf[postgres]'" in r.output and "Traceback" not in r.output


def test_two_hosts_sharing_the_catalogue_cannot_write_one_scene(database, tmp_path):
    """Rigs on two machines have two workspace folders (two lock files) but one database: the
    database's advisory lock refuses the second, naming the first."""
    from schemas.locks import SceneLocked, scene_lock
    from schemas.workspace import make_engine

    for rig in ("rig1", "rig2"):
        (tmp_path / rig).mkdir()
    first, second = make_engine(database), make_engine(database)
    try:
        with scene_lock(tmp_path / "rig1", first, "17", "rdrf capture"):
            with pytest.raises(SceneLocked, match=rf"scene 17 is being written by another rdrf process \(pid {os.getpid()} on {socket.gethostname()}, rdrf capture\)"):
                with scene_lock(tmp_path / "rig2", second, "17", "rdrf capture"):
                    pass
            with scene_lock(tmp_path / "rig2", second, "18", "rdrf capture"):  # another scene goes on
                pass
        with scene_lock(tmp_path / "rig2", second, "17", "rdrf capture"):  # released with the session
            pass
    finally:
        first.dispose()
        second.dispose()


def test_an_exif_text_longer_than_its_column_imports_as_on_sqlite(database, cli, tmp_path, monkeypatch):
    """PostgreSQL enforces VARCHAR lengths that SQLite ignores: a body reporting a 200-character model
    must not make a shot importable on one catalogue and refused on the other."""
    import numpy as np
    from PIL import Image

    from tests.images import textured

    scene = tmp_path / "shoot" / "1"
    (scene / "lq").mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0110] = "M" * 200  # Model
    gt = textured(96, 128, 0)
    Image.fromarray(gt).save(scene / "gt.jpg", exif=exif)
    Image.fromarray(np.roll(gt, 1, axis=1)).save(scene / "lq" / "0001.jpg", exif=exif)
    monkeypatch.setenv("RDRF_DATABASE_URL", database)
    ws = tmp_path / "ws"
    assert cli("init", ws).exit_code == 0
    r = cli("-w", ws, "import", tmp_path / "shoot")
    assert r.exit_code == 0, r.output
    assert rows(database, "SELECT camera_model FROM setups") == [("M" * 128,)]  # one setup: both shots' body is equal
    assert cli("-w", ws, "verify").exit_code == 0
