"""Body profiles (TOML data), body choice among several, glass thickness parsing."""

from __future__ import annotations

import pytest

from hardware.camera import DetectedCamera, NoCamera, listing
from hardware.gphoto import choose
from hardware.profiles import SAFE_DEFAULTS, load_profile_file, match_profile, profile_named, profiles
from hardware.rig import parse_glass
from schemas.errors import RdrfError

SONY = DetectedCamera("Sony ILCE-7RM4A (PC Control)", "usb:001,007")
NIKON = DetectedCamera("Nikon DSC D7100", "usb:001,009")


def test_the_rig_bodies_have_profiles_with_raw_plus_jpeg_on_the_card():
    assert {p.name for p in profiles()} == {"Sony ILCE-7RM4A", "Nikon D7100", "virtual"}
    sony, _ = match_profile(SONY.model)
    nikon, _ = match_profile(NIKON.model)
    assert (sony.raw_ext, sony.native_width, sony.native_height) == (".ARW", 9504, 6336)
    assert (nikon.raw_ext, nikon.native_width) == (".NEF", 6000)
    for p in (sony, nikon):
        assert p.files_per_shot == 2
        widgets = {s.widget: s.values for s in p.settings}
        assert "capturetarget" in widgets and any("card" in v.lower() for v in widgets["capturetarget"])
        assert any("+" in v for v in widgets["imagequality"])  # RAW+JPEG
        assert any(c.widget == "focusmode" for c in p.checks)
    assert profile_named("virtual").raw_ext == ".DNG" and profile_named("virtual").max_captures_per_init == 26


def test_unknown_body_gets_safe_defaults_and_a_warning():
    p, warning = match_profile("Canon EOS R5")
    assert not p.known and p.settings == [] and p.files_per_shot == 0
    assert p.event_window_s == SAFE_DEFAULTS.event_window_s
    assert "Canon EOS R5: no body profile" in warning
    assert listing(DetectedCamera("Canon EOS R5", "usb:002,003")).profile is None
    assert listing(SONY).profile == "Sony ILCE-7RM4A"


def test_broken_profile_file_names_itself(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nfiles_per_shot = -1\n')
    with pytest.raises(RdrfError, match="bad.toml: not a valid body profile"):
        load_profile_file(bad)


def test_choose_a_body_by_auto_model_profile_or_port():
    assert choose([SONY]) == SONY
    with pytest.raises(RdrfError, match="several cameras are connected"):
        choose([SONY, NIKON])
    assert choose([SONY, NIKON], "d7100") == NIKON
    assert choose([SONY, NIKON], "Sony ILCE-7RM4A") == SONY
    assert choose([SONY, NIKON], "usb:001,009") == NIKON
    with pytest.raises(RdrfError, match="matches several"):
        choose([SONY, DetectedCamera(SONY.model, "usb:001,011")], "sony")
    with pytest.raises(NoCamera, match="no connected camera matches 'canon'"):
        choose([SONY], "canon")
    with pytest.raises(NoCamera, match=r"\[-105\]"):
        choose([])


def test_glass_thickness():
    assert parse_glass("5mm") == parse_glass("5 mm") == parse_glass("5") == 5.0
    assert parse_glass(8) == 8.0
    for bad in ("thick", "0mm", "-3"):
        with pytest.raises(RdrfError, match="--glass"):
            parse_glass(bad)
