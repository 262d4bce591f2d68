"""Values outside what a command can use are one clear error, never NaN, a traceback or a silent default."""

from __future__ import annotations

import pytest

from rdrf_align.dataset.resize import parse_size
from schemas.errors import RdrfError


def test_a_too_small_export_size_says_so_not_that_the_format_is_wrong():
    with pytest.raises(RdrfError, match=r"'3x2' is too small: at least 8x8") as err:
        parse_size("3x2")
    assert err.value.exit_code == 2
    with pytest.raises(RdrfError, match="is not WIDTHxHEIGHT"):
        parse_size("big")


def test_eval_of_zero_images_is_a_usage_error(cli, tmp_path):
    r = cli("eval", "--data", tmp_path, "--checkpoint", tmp_path, "--max-images", "0")
    assert r.exit_code == 2 and "--max-images" in r.output and "nan" not in r.output.lower()


def test_a_device_this_machine_lacks_is_named():
    torch = pytest.importorskip("torch")
    from rdrf_train.stages import check_device

    assert check_device("cpu") == "cpu"
    assert check_device(None) in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(RdrfError, match="--device cuda: no CUDA device is available"):
            check_device("cuda")
    with pytest.raises(RdrfError, match="--device 'gpu0'") as err:
        check_device("gpu0")
    assert err.value.exit_code == 2
