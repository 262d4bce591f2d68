"""GT, degraded image and mask are cropped and resized together, without breaking the mask."""

from __future__ import annotations

import numpy as np
import pytest

from rdrf_align.dataset.resize import crop_box, parse_size, resize_image, resize_map, resize_mask
from schemas.imageio import to_uint8
from schemas.errors import RdrfError


def test_sizes_parse_and_bad_ones_are_refused():
    assert parse_size("1080x720") == (1080, 720)
    assert parse_size("original") is None
    for bad in ("1080", "1080x", "big"):
        with pytest.raises(RdrfError, match="WIDTHxHEIGHT"):
            parse_size(bad)
    with pytest.raises(RdrfError, match="too small"):
        parse_size("0x0")


def test_three_by_two_frames_are_not_cropped_and_others_are_centre_cropped():
    assert crop_box(4752, 3168, (1080, 720)) == (0, 0, 4752, 3168)
    assert crop_box(6000, 4000, (1080, 720)) == (0, 0, 6000, 4000)
    assert crop_box(4000, 3000, (1080, 720)) == (0, 166, 4000, 2833)  # 4:3 -> keep full width
    assert crop_box(1920, 1080, (1080, 720)) == (150, 0, 1770, 1080)  # 16:9 -> keep full height
    assert crop_box(4000, 3000, None) == (0, 0, 4000, 3000)
    with pytest.raises(RdrfError, match="aspect ratio"):
        crop_box(4000, 3000, (1080, 720), fit="refuse", what="scene 4")


def test_sixteen_bit_images_round_to_eight_bits():
    img = np.array([[0, 128, 257, 32896, 65535]], np.uint16)
    assert to_uint8(img).tolist() == [[0, 0, 1, 128, 255]]


def test_image_and_mask_stay_aligned_through_crop_and_resize():
    h, w = 300, 400  # 4:3, cropped to 400x267 then resized to 150x100
    yy, xx = np.mgrid[0:h, 0:w]
    mask = ((yy - 150) ** 2 + (xx - 300) ** 2 < 30**2).astype(np.uint8) * 255  # a drop right of centre
    img = np.where(mask[..., None] > 0, 65535, 0).astype(np.uint16).repeat(3, axis=2)
    box = crop_box(w, h, (150, 100))
    out_img = resize_image(img, box, (150, 100))
    out_mask = resize_mask(mask, box, (150, 100))
    assert out_img.shape == (100, 150, 3) and out_img.dtype == np.uint8
    assert out_mask.shape == (100, 150) and set(np.unique(out_mask)) <= {0, 255}
    inside = out_mask > 0
    assert out_img[..., 0][inside].mean() > 200 and out_img[..., 0][~inside].mean() < 10
    cy, cx = np.argwhere(inside).mean(axis=0)
    assert abs(cx - 300 * 150 / 400) < 1.5 and abs(cy - 50) < 1.5


@pytest.mark.parametrize("box, target", [((0, 0, 4752, 3168), (1080, 720)), ((300, 120, 4200, 2720), (360, 240)), ((600, 400, 1600, 1066), None)])
def test_the_small_reflection_map_lands_on_the_exported_gt_pixels(box, target):
    """The map covers the whole GT frame at ~1/9 scale; sampled at the export's pixels it must give the
    value at each exported pixel's GT position (a linear ramp in GT coordinates is reproduced exactly)."""
    full, small_size = (4752, 3168), (512, 341)
    sx, sy = full[0] / small_size[0], full[1] / small_size[1]
    mx, my = np.meshgrid(np.arange(small_size[0]), np.arange(small_size[1]))
    ramp = lambda x, y: 0.01 * x + 0.02 * y  # noqa: E731 - value at GT pixel (x, y)
    small = ramp((mx + 0.5) * sx - 0.5, (my + 0.5) * sy - 0.5).astype(np.float32)
    out = resize_map(small, full, box, target)
    x0, y0, x1, y1 = box
    tw, th = target or (x1 - x0, y1 - y0)
    assert out.shape == (th, tw)
    u, v = np.meshgrid(np.arange(tw), np.arange(th))
    want = ramp(x0 + (u + 0.5) * (x1 - x0) / tw - 0.5, y0 + (v + 0.5) * (y1 - y0) / th - 0.5)
    inner = (slice(th // 20, -th // 20), slice(tw // 20, -tw // 20))  # away from the replicated border
    assert np.abs(out[inner] - want[inner]).max() < 0.05  # of values up to ~110
