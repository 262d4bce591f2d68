"""Import errors that name the file and say the real problem; library chatter kept off the terminal;
greyscale shots recorded as such."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.images import textured, write_jpeg
from tests.test_foundation_import import catalogue_dump, tree

from rdrf_capture.ingest import check_label
from schemas import imageio
from schemas.errors import RdrfError


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A small file whose header claims width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _chunk(b"IEND", b"")


def png_with_a_broken_colour_profile(img: np.ndarray) -> bytes:
    """A valid PNG whose iCCP chunk makes libpng print a warning of its own."""
    ok, buf = cv2.imencode(".png", img)
    assert ok
    b = buf.tobytes()
    return b[:33] + _chunk(b"iCCP", b"bogus\x00\x00" + zlib.compress(b"not a profile")) + b[33:]


def scene(root: Path, label: str, seed: int) -> Path:
    write_jpeg(root / label / "gt.jpg", textured(48, 64, seed))
    write_jpeg(root / label / "lq" / "0001.jpg", textured(48, 64, seed + 1))
    return root / label


def test_a_header_claiming_huge_dimensions_is_refused_by_name_before_decoding(workspace, cli, tmp_path):
    root = tmp_path / "shoot"
    scene(root, "1", 0)
    bad = scene(root, "2", 2)
    (bad / "gt.jpg").unlink()
    (bad / "gt.png").write_bytes(huge_png())
    r = cli("import", root, cwd=workspace)
    assert r.exit_code == 1, r.output
    assert f"{bad / 'gt.png'}: the header claims 100000x100000 pixels" in r.output and "at most 170 million pixels" in r.output
    assert [s["scene"] for s in json.loads(cli("scenes", "--json", cwd=workspace).stdout)] == ["1"]
    with pytest.raises(RdrfError, match=r"x\.png: the header claims 100000x100000"):
        imageio.decode(huge_png(), "x.png")


def test_a_text_file_named_jpg_is_named_in_the_error(workspace, cli, tmp_path):
    s = scene(tmp_path / "shoot", "1", 0)
    (s / "lq" / "0002.jpg").write_text("hello, not a picture")
    r = cli("import", tmp_path / "shoot", cwd=workspace)
    assert r.exit_code == 1 and f"{s / 'lq' / '0002.jpg'}: not a JPEG image" in r.output, r.output
    assert "BytesIO" not in r.output and "0x" not in r.output


@pytest.mark.parametrize(
    "label, problem",
    [("-1", "starts with '-'"), ("Straße12", "'ß' is not allowed"), ("a b", "' ' is not allowed"), ("CON", "device name"),
     ("com1.old", "device name"), ("12.", "ends with '.'"), ("x" * 65, "65 characters"), ("", "empty")],
)
def test_a_scene_label_error_says_what_is_wrong_and_what_a_label_may_be(label, problem):
    with pytest.raises(RdrfError) as err:
        check_label(label)
    message = str(err.value)
    assert problem in message and "ASCII letters A-Z a-z, digits 0-9, '.', '_' and '-', starting with a letter or digit" in message


@pytest.mark.parametrize("label", ["17", "agan-3", "2026-11_a.b", "Con1", "x" * 64])
def test_usable_scene_labels(label):
    assert check_label(label) == label


def test_labels_differing_only_in_case_are_refused(workspace, cli, tmp_path):
    assert cli("import", scene(tmp_path / "a", "a1", 0).parent, cwd=workspace).exit_code == 0
    before, files = catalogue_dump(workspace), tree(workspace)
    r = cli("import", scene(tmp_path / "b", "A1", 3).parent, cwd=workspace)
    assert r.exit_code == 1 and "'A1' differs from catalogued scene 'a1' only in case" in r.output, r.output
    assert catalogue_dump(workspace) == before and tree(workspace) == files


def test_quiet_import_prints_nothing_of_the_libraries(workspace, tmp_path):
    root = tmp_path / "shoot"
    img = textured(48, 64, 0)
    (root / "1" / "lq").mkdir(parents=True)
    (root / "1" / "gt.png").write_bytes(png_with_a_broken_colour_profile(img))  # libpng warns; no EXIF either
    cv2.imwrite(str(root / "1" / "lq" / "0001.png"), np.roll(img, 1, axis=1))
    r = subprocess.run([sys.executable, "-m", "rdrf", "-q", "import", str(root)], capture_output=True, text=True, cwd=workspace)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == "", r.stderr
    # without -q, rdrf's own summary still comes through
    r = subprocess.run([sys.executable, "-m", "rdrf", "import", str(root)], capture_output=True, text=True, cwd=workspace)
    assert r.returncode == 0 and "0 shots added" in r.stderr and "exif" not in r.stderr.lower()


def test_a_quiet_error_still_reaches_the_terminal(workspace, tmp_path):
    s = scene(tmp_path / "shoot", "1", 0)
    (s / "lq" / "0002.jpg").write_text("hello")
    r = subprocess.run([sys.executable, "-m", "rdrf", "-q", "import", str(tmp_path / "shoot")], capture_output=True, text=True, cwd=workspace)
    assert r.returncode == 1 and "0002.jpg: not a JPEG image" in r.stderr, r.stderr


def test_a_greyscale_shot_is_imported_and_recorded_as_greyscale(workspace, cli, tmp_path):
    s = tmp_path / "shoot" / "1"
    (s / "lq").mkdir(parents=True)
    grey = cv2.cvtColor(textured(48, 64, 0), cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(s / "gt.png"), grey)
    write_jpeg(s / "lq" / "0001.jpg", textured(48, 64, 1))
    cv2.imwrite(str(s / "lq" / "0002.jpg"), grey)
    assert cli("import", tmp_path / "shoot", cwd=workspace).exit_code == 0
    shots = {(x["role"], x["index"]): x for x in json.loads(cli("shots", "--json", cwd=workspace).stdout)}
    assert shots[("gt", 1)]["qa"] == {"channels": 1}
    assert shots[("lq", 1)]["qa"] is None  # colour: nothing to say
    assert shots[("lq", 2)]["qa"] == {"channels": 1}
