"""Rain streaks and rain accumulation in the virtual rig carry their truth, and `rdrf synth --kind`
records the combination in the catalogue and the export manifest (issue 16)."""

from __future__ import annotations

import json

import cv2
import numpy as np

from hardware.sim import render_degraded, render_scene, sample_params
from hardware.sim.camera import to_linear
from hardware.sim.params import DegradationParams


def _scene():
    return render_scene("streets & traffic", 360, 240, 3)


def _plain(**update) -> DegradationParams:
    """No drops, no reflection, no camera motion, no noise, no drift: only what the test turns on."""
    base = dict(drops=False, reflection=False, motion_px=0.0, noise=False, exposure_ev=0.0, transmission=1.0,
                glass_tint=(1.0, 1.0, 1.0))
    return DegradationParams(**{**base, **update})


def test_streaks_are_where_their_truth_says_and_oriented_as_asked():
    gt = _scene()
    clear = render_degraded(gt, _plain(), 11)
    assert clear.streak_alpha is None and clear.transmission is None
    for angle in (-20.0, 15.0):
        shot = render_degraded(gt, _plain(streaks=True, streak_angle_deg=angle, streak_count=30000), 11)
        alpha = shot.streak_alpha
        assert alpha is not None and alpha.shape == gt.shape[:2] and 0.005 < (alpha > 0.1).mean() < 0.5
        diff = np.abs(to_linear(shot.image) - to_linear(clear.image)).max(axis=2)
        # the image changed only where the truth has streaks, and by what the truth predicts
        assert diff[alpha < 1e-3].max() < 0.01
        expected = alpha * np.abs(0.8 - to_linear(clear.image).mean(axis=2))
        strong = alpha > 0.2
        assert np.corrcoef(diff[strong], expected[strong])[0, 1] > 0.8
        # orientation from the structure tensor of the truth: the streaks run along `angle` from vertical
        gx = cv2.Sobel(alpha, cv2.CV_64F, 1, 0)
        gy = cv2.Sobel(alpha, cv2.CV_64F, 0, 1)
        jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
        gradient_dir = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))  # dominant gradient, from the x axis
        along = gradient_dir  # the gradient is across the streak: its angle from x is the streak's from vertical
        assert abs(((along - (-angle)) + 90) % 180 - 90) < 6, (angle, along)


def test_near_streaks_are_longer_than_far_ones():
    """Depth dependence: one layer at a time, the nearest draws longer streaks than the farthest."""
    from hardware.sim.streaks import render_streaks

    def mean_length(near: bool) -> float:
        p = _plain(streaks=True, streak_layers=1, streak_count=3000, streak_angle_deg=0.0,
                   streak_length_px=(60.0, 600.0) if near else (60.0, 60.0), streak_blur_px=0.0)
        a = render_streaks(480, 320, p, np.random.default_rng(2))
        n, labels, stats, _ = cv2.connectedComponentsWithStats((a > 0.05).astype(np.uint8))
        return float(np.median(stats[1:, cv2.CC_STAT_HEIGHT]))

    assert mean_length(True) > 3 * mean_length(False)


def test_accumulation_is_a_veil_with_its_transmission_as_truth():
    gt = _scene()
    clear = render_degraded(gt, _plain(), 5)
    shot = render_degraded(gt, _plain(accumulation=True, accumulation_density=1.5, accumulation_airlight=0.7), 5)
    t = shot.transmission
    assert t is not None and 0.0 < t.min() < t.max() <= 1.0
    assert t[: 40].mean() < t[-40:].mean()  # the far top of the frame is veiled more than the near bottom
    # I = J t + A (1 - t), in linear light, to within 8-bit rounding
    predicted = to_linear(clear.image) * t[..., None] + 0.7 * (1 - t[..., None])
    assert np.abs(to_linear(shot.image) - predicted).max() < 0.01
    # contrast loss: the veil flattens the image
    assert shot.image.std() < 0.8 * clear.image.std()


def test_sampled_streak_and_accumulation_parameters_leave_drop_shots_unchanged():
    """Asking for no new kind draws nothing new: a seed gives the drops-and-reflection shot it always gave."""
    a = sample_params(np.random.default_rng(4))
    b = sample_params(np.random.default_rng(4), streaks=False, accumulation=False)
    assert a == b and not a.streaks and not a.accumulation
    c = sample_params(np.random.default_rng(4), streaks=True, accumulation=True, drops=False)
    assert c.streaks and c.accumulation and not c.drops
    assert c.model_copy(update=dict(streaks=False, accumulation=False, drops=True, streak_count=a.streak_count,
                                    streak_angle_deg=a.streak_angle_deg, streak_strength=a.streak_strength,
                                    streak_length_px=a.streak_length_px, streak_brightness=a.streak_brightness,
                                    accumulation_density=a.accumulation_density,
                                    accumulation_airlight=a.accumulation_airlight)) == a


def test_synth_kinds_are_recorded_in_truth_catalogue_and_manifest(cli, workspace, tmp_path):
    out = tmp_path / "synth"
    r = cli("synth", out, "--scenes", "2", "--lq", "2", "--size", "240x160", "--seed", "3", "--kind", "streaks,accumulation")
    assert r.exit_code == 0, r.output
    truth = json.loads((out / "truth.json").read_text())
    assert truth["kinds"] == ["accumulation", "streaks"]
    for rel, f in truth["files"].items():
        assert f["degradation"] == "rain_streak+rain_accumulation" and f["mask"] and f["reflection"] is None
        streaks = cv2.imread(str(out / f["streaks"]), cv2.IMREAD_GRAYSCALE)
        t = cv2.imread(str(out / f["transmission"]), cv2.IMREAD_GRAYSCALE)
        assert streaks.shape == t.shape == (160, 240) and streaks.max() > 50 and 0 < t.min() < 255
        assert f["params"]["streaks"] and f["params"]["accumulation"] and not f["params"]["drops"]
    r = cli("synth", tmp_path / "bad", "--kind", "snow")
    assert r.exit_code == 2 and "snow" in r.stderr and "streaks" in r.stderr

    assert cli("--workspace", workspace, "import", out).exit_code == 0
    shots = json.loads(cli("--workspace", workspace, "shots", "--json").stdout)
    assert {s["degradation"] for s in shots if s["role"] == "lq"} == {"rain_streak+rain_accumulation"}
