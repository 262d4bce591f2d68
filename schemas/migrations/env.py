"""Runs the migrations on the engine `schemas.migrate` hands over.

SQLite cannot alter a constraint in place: batch mode copies a table into a new one and drops the
old, which foreign keys would refuse (or cascade) while other tables point at it. So on SQLite the
checks are off for the migration - they can only be switched outside a transaction - and
`PRAGMA foreign_key_check` must come back empty before the migration commits.

PostgreSQL alters tables in place inside one transaction; two commands upgrading at once are
serialised by a transaction-level advisory lock taken before Alembic reads the current revision, so
the second finds the catalogue already upgraded.
"""

from alembic import context

# pg_advisory_xact_lock's key for "a migration is running" (any constant; rdrf's scene locks hash theirs)
MIGRATION_LOCK = 0x72647266  # "rdrf"

from schemas.catalogue import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()  # ends SQLAlchemy's autobegun transaction; the pragma ran outside one
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migration would break foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
