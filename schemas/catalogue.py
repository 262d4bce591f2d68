"""The catalogue: SQLAlchemy 2.0 typed ORM for everything captured, aligned and exported.

A row means (DESIGN.md): a Scene is the user's numbered place with its category and split; a Setup is
the body, lens and glass one series was shot with; a Shot is one press of the shutter (GT or
degraded) with its files; a File is any file the workspace holds, with its SHA-256 and size; a Pair is
a degraded shot and the scene GT it is aligned to; an Alignment is one attempt at that, with its
figures and output files; an Export is one export folder and its parameters.

Schema changes go through an Alembic migration in schemas/migrations (a test checks they agree).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from schemas import vocabulary as v

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Scene(Base):
    __tablename__ = "scenes"
    __table_args__ = (
        CheckConstraint(v.check_in("split", v.SceneSplit, nullable=True), name="split"),
        CheckConstraint(v.check_in("kind", v.SceneKind), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(64), unique=True)
    # paired / video / wild (revision 0005): a wild scene has no GT and its own split, 'wild'.
    kind: Mapped[str] = mapped_column(String(8), default="paired", server_default="paired")
    category: Mapped[Optional[str]] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="")
    split: Mapped[Optional[str]] = mapped_column(String(8))
    split_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    setups: Mapped[list["Setup"]] = relationship(back_populates="scene", order_by="Setup.id")
    shots: Mapped[list["Shot"]] = relationship(back_populates="scene", order_by="(Shot.role, Shot.index)")
    pairs: Mapped[list["Pair"]] = relationship(back_populates="scene", order_by="Pair.id")


class Setup(Base):
    __tablename__ = "setups"

    id: Mapped[int] = mapped_column(primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id"), index=True)
    camera_model: Mapped[Optional[str]] = mapped_column(String(128))
    camera_serial: Mapped[Optional[str]] = mapped_column(String(64))
    lens: Mapped[Optional[str]] = mapped_column(String(128))
    focal_length_mm: Mapped[Optional[float]] = mapped_column(Float)
    glass_mm: Mapped[Optional[float]] = mapped_column(Float)
    distance_cm: Mapped[Optional[float]] = mapped_column(Float)
    angle_deg: Mapped[Optional[float]] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    scene: Mapped[Scene] = relationship(back_populates="setups")


class Shot(Base):
    __tablename__ = "shots"
    __table_args__ = (
        UniqueConstraint("scene_id", "role", "index", name="uq_shots_scene_role_index"),
        CheckConstraint(v.check_in("role", v.Role), name="role"),
        CheckConstraint(v.check_in("degradation", v.Degradation), name="degradation"),
        CheckConstraint(v.check_in("trigger", v.Trigger), name="trigger"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id"), index=True)
    setup_id: Mapped[Optional[int]] = mapped_column(ForeignKey("setups.id"))
    role: Mapped[str] = mapped_column(String(4))
    index: Mapped[int] = mapped_column(Integer)  # 1-based within (scene, role)
    degradation: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(8))
    original_name: Mapped[str] = mapped_column(String(255))
    captured_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    iso: Mapped[Optional[float]] = mapped_column(Float)
    shutter_s: Mapped[Optional[float]] = mapped_column(Float)
    aperture: Mapped[Optional[float]] = mapped_column(Float)
    width: Mapped[Optional[int]] = mapped_column(Integer)
    height: Mapped[Optional[int]] = mapped_column(Integer)
    qa: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    # A video frame's number in its source clip and its time in seconds (revision 0005; NULL for stills).
    frame_index: Mapped[Optional[int]] = mapped_column(Integer)
    timestamp_s: Mapped[Optional[float]] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    scene: Mapped[Scene] = relationship(back_populates="shots")
    setup: Mapped[Optional[Setup]] = relationship()
    files: Mapped[list["File"]] = relationship(back_populates="shot", order_by="File.id")


class File(Base):
    __tablename__ = "files"
    __table_args__ = (CheckConstraint(v.check_in("kind", v.FileKind), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shot_id: Mapped[Optional[int]] = mapped_column(ForeignKey("shots.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(1024), unique=True)  # relative to the workspace, POSIX
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    shot: Mapped[Optional[Shot]] = relationship(back_populates="files")


class Pair(Base):
    __tablename__ = "pairs"
    __table_args__ = (CheckConstraint(v.check_in("status", v.PairStatus), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id"), index=True)
    gt_shot_id: Mapped[int] = mapped_column(ForeignKey("shots.id"))
    lq_shot_id: Mapped[int] = mapped_column(ForeignKey("shots.id"), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    alignment_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("alignments.id", use_alter=True, name="fk_pairs_alignment_id_alignments")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    scene: Mapped[Scene] = relationship(back_populates="pairs")
    gt_shot: Mapped[Shot] = relationship(foreign_keys=[gt_shot_id])
    lq_shot: Mapped[Shot] = relationship(foreign_keys=[lq_shot_id])
    alignment: Mapped[Optional["Alignment"]] = relationship(foreign_keys=[alignment_id], post_update=True)


class Alignment(Base):
    """One alignment attempt; the pair's `alignment_id` points at the current one."""

    __tablename__ = "alignments"
    __table_args__ = (
        CheckConstraint(v.check_in("status", v.AlignStatus), name="status"),
        CheckConstraint(v.check_in("mask_method", v.MaskMethod, nullable=True), name="mask_method"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text, default="")
    homography: Mapped[Optional[list[list[float]]]] = mapped_column(JSON)  # degraded px -> GT px
    n_matches: Mapped[Optional[int]] = mapped_column(Integer)
    n_inliers: Mapped[Optional[int]] = mapped_column(Integer)
    inlier_ratio: Mapped[Optional[float]] = mapped_column(Float)
    reproj_error: Mapped[Optional[float]] = mapped_column(Float)
    gain: Mapped[Optional[list[float]]] = mapped_column(JSON)
    offset: Mapped[Optional[list[float]]] = mapped_column(JSON)
    valid_fraction: Mapped[Optional[float]] = mapped_column(Float)
    mask_coverage: Mapped[Optional[float]] = mapped_column(Float)
    mask_method: Mapped[Optional[str]] = mapped_column(String(16))
    params: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    seconds: Mapped[Optional[float]] = mapped_column(Float)
    # The images the homography and masks were computed from: the warped degraded image is rendered
    # from `lq_file` on demand (schemas.warp). NULL on rows older than revision 0003, which used the
    # shots' images (schemas.views.alignment_sources).
    gt_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("files.id"))
    lq_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("files.id"))
    # Outputs only alignment can compute (small lossless PNGs under aligned/).
    raindrop_mask_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("files.id"))
    # Written by versions before 0003 only (the warped image and its valid area, now derived):
    # kept readable until `rdrf align --prune-legacy` removes them.
    aligned_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("files.id"))
    valid_mask_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("files.id"))
    reflection_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("files.id"))  # masks.reflection_map
    # A dual-pixel pair's raindrop mask per view (revision 0006; NULL for ordinary pairs).
    mask_left_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("files.id"))
    mask_right_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("files.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    pair: Mapped[Pair] = relationship(foreign_keys=[pair_id])
    gt_file: Mapped[Optional[File]] = relationship(foreign_keys=[gt_file_id])
    lq_file: Mapped[Optional[File]] = relationship(foreign_keys=[lq_file_id])
    raindrop_mask_file: Mapped[Optional[File]] = relationship(foreign_keys=[raindrop_mask_file_id])
    aligned_file: Mapped[Optional[File]] = relationship(foreign_keys=[aligned_file_id])
    valid_mask_file: Mapped[Optional[File]] = relationship(foreign_keys=[valid_mask_file_id])
    reflection_file: Mapped[Optional[File]] = relationship(foreign_keys=[reflection_file_id])
    mask_left_file: Mapped[Optional[File]] = relationship(foreign_keys=[mask_left_file_id])
    mask_right_file: Mapped[Optional[File]] = relationship(foreign_keys=[mask_right_file_id])


class Export(Base):
    __tablename__ = "exports"
    __table_args__ = (
        CheckConstraint(v.check_in("split", v.ExportSplit), name="split"),
        CheckConstraint(v.check_in("format", v.ExportFormat), name="format"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(1024))  # relative to the workspace when inside it
    split: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(16))
    size: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_records: Mapped[int] = mapped_column(Integer)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    catalogue_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class IngestJournal(Base):
    """A file being written into the workspace. A row left behind marks an interrupted ingestion:
    `verify` explains its file instead of calling it unknown, and the next ingestion of the same
    path completes or clears it."""

    __tablename__ = "ingest_journal"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), index=True)
    source: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
