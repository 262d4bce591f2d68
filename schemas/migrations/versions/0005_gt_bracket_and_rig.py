"""The GT bracket and the rig record: shots.rig, shots.bracket, scenes.gt_drift

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Issue 13. Every captured shot records the rig it was taken with (libgphoto2 version, body, firmware,
focus, the settings read back from the body) in `shots.rig` (JSON; NULL for imported shots and for
shots catalogued before this revision). A degraded series ends with a closing GT, told apart from
the opening one by `shots.bracket` (false for every existing shot); the scene records the drift
measured between its opening and closing GTs in `scenes.gt_drift` (JSON list, one record per
closing GT; NULL: no bracket). Columns only, all nullable or with a server default, so the
upgrade is the same on SQLite (batch mode) and PostgreSQL.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shots') as batch:
        batch.add_column(sa.Column('rig', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('bracket', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('scenes') as batch:
        batch.add_column(sa.Column('gt_drift', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scenes') as batch:
        batch.drop_column('gt_drift')
    with op.batch_alter_table('shots') as batch:
        batch.drop_column('bracket')
        batch.drop_column('rig')
