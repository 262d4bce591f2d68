"""The catalogue's schema: migrations agree with the ORM, old catalogues upgrade, records' JSON Schemas are current."""

from __future__ import annotations

import json
import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from rdrf.commands.schemas import SCHEMA_DIR, schema_files
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
    r = cli("status", "--json", cwd=workspace)  # only `rdrf init` makes a catalogue
    assert r.exit_code == 1 and f"{other} is missing" in r.output and not other.exists()
    assert cli("init", workspace).exit_code == 0 and other.exists()
    assert cli("status", "--json", cwd=workspace).exit_code == 0


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


def test_a_catalogue_with_data_upgrades_to_the_vocabulary_checks_without_loss(tmp_path):
    """0001 -> head recreates tables on SQLite (batch mode) under foreign keys; every row must survive,
    and afterwards a value outside its vocabulary is refused by the database itself."""
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    upgrade(engine, "0001")
    now = "2026-11-01 00:00:00"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO scenes (id, label, notes, split, split_pinned, created_at) VALUES (1, '17', '', 'test', 0, '{now}')")
        for sid, role in ((1, "gt"), (2, "lq")):
            conn.exec_driver_sql(
                "INSERT INTO shots (id, scene_id, role, \"index\", degradation, \"trigger\", original_name, created_at) "
                f"VALUES ({sid}, 1, '{role}', 1, 'raindrop', 'import', 'x{sid}.jpg', '{now}')"
            )
            conn.exec_driver_sql(
                f"INSERT INTO files (id, shot_id, kind, path, sha256, size, created_at) VALUES ({sid}, {sid}, 'original', 'originals/x{sid}.jpg', 'ab', 1, '{now}')"
            )
        conn.exec_driver_sql(f"INSERT INTO pairs (id, scene_id, gt_shot_id, lq_shot_id, status, reason, created_at) VALUES (1, 1, 1, 2, 'ok', '', '{now}')")
        conn.exec_driver_sql(
            f"INSERT INTO alignments (id, pair_id, method, version, status, reason, mask_method, created_at) VALUES (1, 1, 'rdrf', '1', 'ok', '', 'default', '{now}')"
        )
        conn.exec_driver_sql("UPDATE pairs SET alignment_id = 1 WHERE id = 1")
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM shots").scalar() == 2
        assert conn.exec_driver_sql("SELECT count(*) FROM files").scalar() == 2
        assert conn.exec_driver_sql("SELECT status, alignment_id FROM pairs").one() == ("ok", 1)
        assert conn.exec_driver_sql("SELECT split FROM scenes").scalar() == "test"
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE pairs SET status = 'okay' WHERE id = 1")
    except IntegrityError as exc:
        assert "ck_pairs_status" in str(exc) or "CHECK" in str(exc)
    else:
        raise AssertionError("a pair status outside the vocabulary was stored")
