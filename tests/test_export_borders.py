"""No black warp borders in an export: each scene's frame shrinks to what all its shots cover."""

from __future__ import annotations

import json

import cv2
import numpy as np
from tests.export_helpers import SceneSpec, build_workspace
from PIL import Image
from sqlalchemy import select

from rdrf_align.dataset.resize import inside_all
from schemas.warp import covered_quad
from schemas.catalogue import Pair
from schemas.records import CATEGORIES
from schemas.workspace import Catalogue


def test_inside_all_keeps_centre_and_aspect_and_clears_the_uncovered_edge():
    quad = covered_quad([[1, 0, 12], [0, 1, 0], [0, 0, 1]], 300, 200)  # shot shifted 12 px right
    box = inside_all((0, 0, 300, 200), [quad], margin=2)
    x0, y0, x1, y1 = box
    assert x0 >= 14 and abs((x0 + x1) / 2 - 150) <= 1 and abs((y0 + y1) / 2 - 100) <= 1
    assert abs((x1 - x0) / (y1 - y0) - 1.5) < 0.02
    identity = covered_quad(np.eye(3), 300, 200)
    assert inside_all((10, 10, 290, 190), [identity]) == (10, 10, 290, 190)


def test_exported_degraded_images_have_no_black_warp_border(tmp_path, cli):
    ws = build_workspace(tmp_path / "ws", specs=[SceneSpec("1", CATEGORIES[0], statuses=("ok", "ok"), split="train")])
    H = np.array([[1, 0, 12], [0, 1, -6], [0, 0, 1]], np.float64)  # the warp leaves black where the shot does not reach
    cat = Catalogue(ws)
    with cat.session() as s:
        pair = s.scalars(select(Pair)).first()
        pair.alignment.homography = H.tolist()
    cat.close()

    def export(borders: str):
        out = tmp_path / borders
        r = cli("-w", ws.root, "export", "--size", "original", "--borders", borders, "--out", out)
        assert r.exit_code == 0, r.output
        rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
        return out, rows

    kept, rows = export("keep")
    assert (rows[0]["width"], rows[0]["height"]) == (240, 160) and rows[0]["crop"] == [0, 0, 240, 160]
    img = np.asarray(Image.open(kept / rows[0]["lq"]))
    assert (img[:, :12] == 0).all()  # the border is there when kept

    cropped, rows = export("crop")
    w, h = rows[0]["width"], rows[0]["height"]
    assert w <= 240 - 2 * 12 and abs(w / h - 1.5) < 0.02
    x0, y0, x1, y1 = rows[0]["crop"]  # the manifest says where in the GT frame the images were cut
    assert (x1 - x0, y1 - y0) == (w, h) and x0 >= 12
    gt_full = np.asarray(Image.open(kept / rows[0]["gt"]))
    assert np.array_equal(np.asarray(Image.open(cropped / rows[0]["gt"])), gt_full[y0:y1, x0:x1])
    for r in rows:  # every pair of the scene shares the crop
        assert r["crop"] == rows[0]["crop"]
        imgs = [np.asarray(Image.open(cropped / r[k])) for k in ("gt", "lq", "mask")]
        assert all(i.shape[:2] == (h, w) for i in imgs)
        black = (imgs[1] == 0).all(axis=2)
        for edge in (black[:, 0], black[:, -1], black[0], black[-1]):  # no black row or column at any edge
            assert not edge.all()
    assert "borders=crop" in (cropped / "README.md").read_text()


def test_the_record_says_where_the_warp_covers_the_exported_image(cli, tmp_path):
    """`frame` + `crop` + `homography` in a record give the area the warped degraded shot covers
    (`rdrf eval/benchmark --valid-only`): with `--borders keep` the black warp border lies outside it."""
    from rdrf_train.export_reader import read_manifest, valid_region
    from schemas import imageio

    ws = build_workspace(tmp_path / "ws", specs=[SceneSpec("1", CATEGORIES[0], statuses=("ok", "ok", "ok"))])
    r = cli("-w", ws.root, "export", "--split", "all", "--size", "original", "--borders", "keep", "--out", tmp_path / "e")
    assert r.exit_code == 0, r.output
    records = read_manifest(tmp_path / "e")
    assert records and all(rec.frame == [240, 160] for rec in records)
    for rec in records:
        lq = imageio.read(tmp_path / "e" / rec.lq)
        valid = valid_region(rec)
        assert valid.shape == lq.shape[:2]
        black = (lq == 0).all(axis=2)
        assert black.any() and not (black & valid).any()  # the border is never scored
        # and little of the covered image is left out: only a few pixels' inset (the warp's
        # bicubic reach) along the covered area's edge
        covered = np.pad(~black, 1).astype(np.uint8)
        inner = cv2.erode(covered, np.ones((9, 9), np.uint8))[1:-1, 1:-1] > 0
        assert inner.any() and (valid | ~inner).all()
