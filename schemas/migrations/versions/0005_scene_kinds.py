"""Scene kinds (paired / video / wild), the 'wild' split, streak and accumulation degradations, video frames

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Issue 16: scenes gain `kind` (every existing scene is 'paired'); the scenes.split check admits 'wild'
(the split of a scene with no GT), exports.split admits 'wild'; shots.degradation admits rain
accumulation, 'unknown' (an unlabelled wild shot) and the combinations (its column widens to 40 characters, which PostgreSQL enforces);
shots gain `frame_index` and `timestamp_s` for frames imported from a video. Values are written out,
as in 0002. (Written on a branch next to another 0005: the merge chains it onto 0005.)
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

SINGLE = ['raindrop', 'reflection', 'both', 'rain_streak', 'none', 'rain_accumulation', 'unknown']
COMBINED = [
    'rain_streak+rain_accumulation',
    'raindrop+rain_streak', 'raindrop+rain_accumulation', 'raindrop+rain_streak+rain_accumulation',
    'reflection+rain_streak', 'reflection+rain_accumulation', 'reflection+rain_streak+rain_accumulation',
    'both+rain_streak', 'both+rain_accumulation', 'both+rain_streak+rain_accumulation',
]


def _in(column: str, listed: list[str], nullable: bool = False) -> str:
    clause = f"{column} IN ({', '.join(repr(x) for x in listed)})"
    return f"{column} IS NULL OR {clause}" if nullable else clause


def _replace_check(batch, name: str, condition: str) -> None:
    batch.drop_constraint(name, type_='check')  # the naming convention adds ck_<table>_
    batch.create_check_constraint(name, condition)


def upgrade() -> None:
    with op.batch_alter_table('scenes') as batch:
        batch.add_column(sa.Column('kind', sa.String(8), nullable=False, server_default='paired'))
        batch.create_check_constraint('kind', _in('kind', ['paired', 'video', 'wild']))
        _replace_check(batch, 'split', _in('split', ['train', 'test', 'wild'], nullable=True))
    with op.batch_alter_table('shots') as batch:
        batch.alter_column('degradation', type_=sa.String(40), existing_type=sa.String(16), existing_nullable=False)
        _replace_check(batch, 'degradation', _in('degradation', SINGLE + COMBINED))
        batch.add_column(sa.Column('frame_index', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('timestamp_s', sa.Float(), nullable=True))
    with op.batch_alter_table('exports') as batch:
        _replace_check(batch, 'split', _in('split', ['train', 'test', 'all', 'wild']))


def downgrade() -> None:
    # Refuse rather than lose rows: what only this revision can express must be gone first.
    bind = op.get_bind()
    if bind.execute(sa.text(
        "SELECT count(*) FROM scenes WHERE kind != 'paired' OR split = 'wild'"
    )).scalar() or bind.execute(sa.text(
        "SELECT count(*) FROM shots WHERE " + _in('degradation', SINGLE[:4] + ['none']).replace(' IN', ' NOT IN')
    )).scalar():
        raise RuntimeError("the catalogue holds video/wild scenes or new degradations, which revision 0004 cannot store")
    with op.batch_alter_table('exports') as batch:
        _replace_check(batch, 'split', _in('split', ['train', 'test', 'all']))
    with op.batch_alter_table('shots') as batch:
        _replace_check(batch, 'degradation', _in('degradation', SINGLE[:4] + ['none']))
        batch.drop_column('timestamp_s')
        batch.drop_column('frame_index')
        batch.alter_column('degradation', type_=sa.String(16), existing_type=sa.String(40), existing_nullable=False)
    with op.batch_alter_table('scenes') as batch:
        _replace_check(batch, 'split', _in('split', ['train', 'test'], nullable=True))
        batch.drop_constraint('kind', type_='check')
        batch.drop_column('kind')
