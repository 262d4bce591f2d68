"""A small aligned workspace built straight through the ORM, for split/export/report tests.

Each scene has a setup (camera, glass), one GT shot and a few degraded shots; each degraded shot has a
pair whose current alignment is ok or rejected with a homography and a raindrop mask on disk - what
`rdrf align` leaves behind - so these tests need neither import nor align. The degraded originals are
made so that warping them with their homography gives the drops over the GT (a rejected pair's is 4 px
off). `legacy=True` also writes what versions before catalogue revision 0003 stored (the warped image
and the valid area under aligned/) and leaves the alignment's source files unset, as those did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from schemas.catalogue import Alignment, File, Pair, Scene, Setup, Shot
from schemas.records import CATEGORIES
from schemas.storage import durable_write
from schemas.workspace import Catalogue, Workspace, create_workspace


@dataclass
class SceneSpec:
    label: str
    category: str | None
    statuses: tuple[str, ...] = ("ok", "ok")  # one per degraded shot: ok | rejected | failed
    size: tuple[int, int] = (240, 160)  # width, height
    gt_bits: int = 8
    camera: str = "Sony ILCE-7RM4A"
    glass_mm: float = 5.0
    split: str | None = None
    pinned: bool = False
    extra: dict = field(default_factory=dict)


def photo(w: int, h: int, seed: int) -> np.ndarray:
    """A photo-like BGR scene: sky gradient, a few 'buildings', texture."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    sky = np.concatenate([200 - 60 * y, 170 - 40 * y, 120 + 20 * y], axis=2) * np.ones((1, w, 1), np.float32)
    img = sky.copy()
    for _ in range(6):
        x0 = int(rng.integers(0, w - w // 6))
        bw = int(rng.integers(w // 10, w // 4))
        top = int(rng.integers(h // 4, 3 * h // 4))
        color = rng.integers(40, 200, 3).astype(np.float32)
        img[top:, x0 : x0 + bw] = color
        for wy in range(top + 6, h - 4, 12):
            for wx in range(x0 + 4, min(x0 + bw - 4, w - 4), 10):
                img[wy : wy + 5, wx : wx + 5] = color * 0.4
    noise = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 1.5) * 30
    return np.clip(img + noise - 15, 0, 255).astype(np.uint8)


def raindrops(img: np.ndarray, seed: int, n: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """Blurry bright drops on an image, and their mask."""
    h, w = img.shape[:2]
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(n):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        r = int(rng.integers(max(2, w // 60), max(3, w // 18)))
        cv2.circle(mask, c, r, 255, -1)
    blurred = cv2.GaussianBlur(img, (0, 0), 4)
    drops = cv2.addWeighted(blurred, 0.7, np.full_like(img, 230), 0.3, 0)
    out = np.where(mask[..., None] > 0, drops, img)
    return out, mask


def reflection_map(w: int, h: int, seed: int) -> np.ndarray:
    """A small smooth 8-bit map like `rdrf align` stores (long side <= 512): a defocused glow."""
    f = max(1.0, max(w, h) / 512)
    sw, sh = max(1, round(w / f)), max(1, round(h / f))
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:sh, 0:sw]
    cx, cy = rng.uniform(0, sw), rng.uniform(0, sh)
    glow = 80 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.3 * sw) ** 2))
    return np.round(glow).astype(np.uint8)


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _jpg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


def _file(session, ws: Workspace, shot: Shot | None, kind: str, rel: str, data: bytes) -> File:
    s = durable_write(data, ws.abs(rel))
    f = File(shot=shot, kind=kind, path=rel, sha256=s.sha256, size=s.size)
    session.add(f)
    return f


def add_scenes(ws: Workspace, specs: list[SceneSpec], legacy: bool = False) -> None:
    cat = Catalogue(ws)
    try:
        with cat.session() as session:
            for spec in specs:
                seed = sum(map(ord, spec.label))
                w, h = spec.size
                scene = Scene(label=spec.label, category=spec.category, split=spec.split, split_pinned=spec.pinned)
                setup = Setup(scene=scene, camera_model=spec.camera, glass_mm=spec.glass_mm)
                session.add_all([scene, setup])
                clean = photo(w, h, seed)
                gt = Shot(scene=scene, setup=setup, role="gt", index=1, degradation="none", trigger="import",
                          original_name="gt.jpg" if spec.gt_bits == 8 else "gt.ARW", width=w, height=h)
                session.add(gt)
                if spec.gt_bits == 8:
                    gt_file = _file(session, ws, gt, "original", f"originals/{spec.label}/gt.jpg", _jpg(clean))
                else:
                    _file(session, ws, gt, "original", f"originals/{spec.label}/gt.ARW", b"not really raw " + spec.label.encode())
                    gt_file = _file(session, ws, gt, "developed", f"developed/{spec.label}/gt.png", _png(clean.astype(np.uint16) * 257))
                session.flush()
                for i, status in enumerate(spec.statuses, 1):
                    lq_img, mask = raindrops(clean, seed * 31 + i)
                    warped = lq_img if status != "rejected" else np.roll(lq_img, 4, axis=1)  # visibly misaligned
                    H = np.array([[1.0, 0.0, 1.5 * i], [0.0, 1.0, -0.5 * i], [0.0, 0.0, 1.0]])
                    shot_img = cv2.warpPerspective(warped, np.linalg.inv(H), (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                    name = f"DSC{seed:03d}{i:02d}.JPG"
                    lq = Shot(scene=scene, setup=setup, role="lq", index=i, degradation="raindrop", trigger="import",
                              original_name=name, width=w, height=h)
                    session.add(lq)
                    lq_file = _file(session, ws, lq, "original", f"originals/{spec.label}/lq/{name}", _jpg(shot_img))
                    pair = Pair(scene=scene, gt_shot=gt, lq_shot=lq, status=status,
                                reason={"ok": "", "rejected": "reprojection error 4.1 px > 2.0 px"}.get(status, "too few matches (12 < 50)"))
                    session.add(pair)
                    session.flush()
                    a = Alignment(pair_id=pair.id, method="sift-ransac", version="1", status=status, reason=pair.reason,
                                  homography=H.tolist(),
                                  n_matches=900 + 10 * i, n_inliers={"ok": 800 - 37 * i, "rejected": 40 + i}.get(status),
                                  inlier_ratio=0.8, reproj_error={"ok": 0.4 + 0.05 * i, "rejected": 4.1}.get(status),
                                  gain=[1.0, 1.0, 1.0], offset=[0.0, 0.0, 0.0], valid_fraction=0.97,
                                  mask_coverage=float((mask > 0).mean()), mask_method="default")
                    if status != "failed":
                        a.raindrop_mask_file = _file(session, ws, None, "raindrop_mask", f"aligned/{spec.label}/{pair.id}.mask.png", _png(mask))
                        if legacy:
                            a.aligned_file = _file(session, ws, None, "aligned", f"aligned/{spec.label}/{pair.id}.png", _png(warped))
                            a.valid_mask_file = _file(session, ws, None, "valid_mask", f"aligned/{spec.label}/{pair.id}.valid.png", _png(np.full((h, w), 255, np.uint8)))
                        else:
                            a.gt_file, a.lq_file = gt_file, lq_file
                            a.reflection_file = _file(session, ws, None, "reflection", f"aligned/{spec.label}/{pair.id}.reflection.png",
                                                      _png(reflection_map(w, h, seed + i)))
                    session.add(a)
                    session.flush()
                    pair.alignment_id = a.id
    finally:
        cat.close()


def default_specs() -> list[SceneSpec]:
    """Eight scenes over four categories; one 4:3 scene, one 16-bit developed GT, one rejected pair."""
    return [
        SceneSpec("1", CATEGORIES[0]),
        SceneSpec("2", CATEGORIES[0], statuses=("ok", "rejected", "ok")),
        SceneSpec("3", CATEGORIES[1], gt_bits=16, camera="Nikon D7100", glass_mm=3.0),
        SceneSpec("4", CATEGORIES[1], size=(200, 150)),  # 4:3: centre-cropped to 3:2
        SceneSpec("5", CATEGORIES[2], glass_mm=8.0),
        SceneSpec("6", CATEGORIES[2], statuses=("ok", "failed")),
        SceneSpec("7", CATEGORIES[5], camera="Nikon D7100"),
        SceneSpec("10", CATEGORIES[5], statuses=("ok",)),
    ]


def build_workspace(root: Path, specs: list[SceneSpec] | None = None, test_fraction: float = 0.25, legacy: bool = False) -> Workspace:
    ws = create_workspace(root)
    with open(ws.marker, "a") as f:
        f.write(f"\n[split]\ntest_fraction = {test_fraction}\n")
    add_scenes(ws, specs if specs is not None else default_specs(), legacy)
    return ws
