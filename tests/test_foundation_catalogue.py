"""The catalogue's schema: migrations agree with the ORM, old catalogues upgrade, records' JSON Schemas are current."""

from __future__ import annotations

import json
import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from rdrf.commands.workspace import SCHEMA_DIR, schema_files
from schemas.catalogue import Base
from schemas.migrate import current_revision, head_revision, upgrade
from schemas.workspace import Catalogue, Workspace, make_engine


def test_migrations_at_head_match_the_orm_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"ORM and migrations disagree - add an Alembic revision: {diff}"


def test_catalogue_is_sqlite_wal_full_sync_with_foreign_keys(workspace):
    cat = Catalogue(Workspace(workspace))
    with cat.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_older_catalogue_is_upgraded_by_any_command(workspace, cli):
    # an empty (pre-0001) catalogue file, as an older tool version would leave before its first revision
    (workspace / "catalogue.sqlite").unlink()
    sqlite3.connect(workspace / "catalogue.sqlite").close()
    assert cli("status", "--json", cwd=workspace).exit_code == 0
    engine = make_engine(f"sqlite:///{workspace / 'catalogue.sqlite'}")
    assert current_revision(engine) == head_revision()
    assert {"scenes", "shots", "files", "pairs", "alignments", "exports", "setups"} <= set(inspect(engine).get_table_names())


def test_database_url_from_the_environment(workspace, cli, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere.sqlite"
    monkeypatch.setenv("RDRF_DATABASE_URL", f"sqlite:///{other}")
    assert cli("status", "--json", cwd=workspace).exit_code == 0
    assert other.exists()


def test_checked_in_json_schemas_match_the_records():
    expected = schema_files()
    on_disk = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.schema.json")}
    assert on_disk == expected, "records changed: run `rdrf schemas --write` and commit schemas/jsonschema/"


def test_pair_record_carries_the_fields_downstream_code_reads():
    props = json.loads(schema_files()["pair.schema.json"])["properties"]
    for name in ("pair_id", "scene", "gt_shot", "lq_shot", "lq_original", "status", "reason", "homography", "aligned_lq", "raindrop_mask", "valid_mask"):
        assert name in props, name


def test_the_real_entry_point_turns_errors_into_messages_and_exit_codes(tmp_path):
    import subprocess
    import sys

    def rdrf(*args):
        return subprocess.run([sys.executable, "-m", "rdrf", *args], capture_output=True, text=True, cwd=tmp_path)

    for args, code, message in (
        (("nosuch",), 2, "No such command"),
        (("status", "--bogus"), 2, "No such option"),
        (("status",), 1, "no rdrf workspace"),
    ):
        r = rdrf(*args)
        assert r.returncode == code and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
