"""Body profiles: what to set on a body and what to expect from it, as TOML data beside this file.

A profile names the libgphoto2 widgets to set (capture target, RAW+JPEG quality) with the values to
try in order - the first one the body offers wins, so firmware spelling differences do not break a
session - the checks that only warn (autofocus behind wet glass), how many files one shot yields, the
RAW extension and the native resolution. An unknown body gets `SAFE_DEFAULTS`: nothing is changed on
it, and every file that arrives within the event window belongs to the shot.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.errors import RdrfError

HERE = Path(__file__).parent


class Setting(BaseModel):
    """One widget to set. Every setting is read back after it is applied: libgphoto2 skips a property
    that fails to set without an error (config.c:12762 in 2.5.34), and some Sony sets return OK
    while the body keeps its value. A `required` setting that does not read back stops the session
    with `menu`, the body menu entry the operator sets by hand."""

    model_config = ConfigDict(extra="forbid")
    widget: str
    values: list[str] = Field(min_length=1, description="candidates in order of preference")
    why: str = ""
    required: bool = Field(False, description="refuse to start when it does not read back as set")
    menu: str = Field("", description="the body menu entry that sets it when the host cannot")
    fallback_widget: Optional[str] = Field(None, description="a second widget for the same property (libgphoto2's generic one, e.g. 'd222')")
    fallback_values: list[str] = Field(default_factory=list, description="the fallback widget's value for each of `values`")
    ram_only: list[str] = Field(default_factory=list, description="values that keep a shot only in RAM: accepted only with allow_ram_only")

    @model_validator(mode="after")
    def _fallback_matches(self) -> "Setting":
        if self.fallback_widget and len(self.fallback_values) != len(self.values):
            raise ValueError(f"'{self.widget}': fallback_values needs one value per entry of values ({len(self.values)})")
        return self


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")
    widget: str
    ok: list[str] = Field(min_length=1)
    warning: str


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    match: list[str] = Field(default_factory=list, description="substrings of libgphoto2 model names")
    usb_ids: list[str] = Field(default_factory=list)
    raw_ext: Optional[str] = None
    jpeg_ext: str = ".JPG"
    native_width: Optional[int] = None
    native_height: Optional[int] = None
    files_per_shot: int = Field(0, ge=0, description="0: unknown, collect for the whole event window")
    event_window_s: float = Field(3.0, gt=0, description="how long to wait for the next file of a shot")
    same_stem: bool = Field(
        False,
        description="RAW and JPEG of one shot share a file stem (DSC_1234.NEF/.JPG); false: a shot is the next "
        "files_per_shot files in arrival order (names like capt0000.arw/capt0001.jpg share nothing)",
    )
    max_captures_per_init: int = Field(0, ge=0, description="re-open the session after this many (0: never)")
    busy_retry_s: float = Field(10.0, gt=0, description="how long a busy (-110) body is retried (never the shutter press)")
    startup_wait_s: float = Field(0.0, ge=0, description="wait after opening before the first capture")
    min_interval_s: float = Field(0.0, ge=0, description="shortest time from one capture to the next")
    allow_ram_only: bool = Field(False, description="accept a capture target that keeps shots only in RAM (a pulled cable loses the shot)")
    settings: list[Setting] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    known: bool = True  # False for the safe defaults given to an unknown body

    def matches(self, model: str) -> bool:
        low = model.lower()
        return any(m.lower() in low for m in self.match) or self.name.lower() == low


SAFE_DEFAULTS = Profile(
    name="unknown body",
    files_per_shot=0,
    event_window_s=3.0,
    known=False,
)


def load_profile_file(path: Path) -> Profile:
    try:
        return Profile.model_validate(tomllib.loads(path.read_text()))
    except tomllib.TOMLDecodeError as exc:
        raise RdrfError(f"{path}: not valid TOML ({exc})") from exc
    except ValidationError as exc:
        raise RdrfError(f"{path}: not a valid body profile: {exc}") from exc


@lru_cache(maxsize=None)
def profiles() -> tuple[Profile, ...]:
    return tuple(load_profile_file(p) for p in sorted(HERE.glob("*.toml")))


def profile_named(name: str) -> Profile:
    for p in profiles():
        if p.name.lower() == name.lower() or p.matches(name):
            return p
    names = ", ".join(p.name for p in profiles())
    raise RdrfError(f"no body profile named {name!r}; known profiles: {names}")


def match_profile(model: str) -> tuple[Profile, Optional[str]]:
    """The profile for a libgphoto2 model name, and a warning when it is an unknown body."""
    for p in profiles():
        if p.name != "virtual" and p.matches(model):
            return p, None
    return SAFE_DEFAULTS.model_copy(update={"name": model}), (
        f"{model}: no body profile - nothing is changed on the camera and every file arriving within "
        f"{SAFE_DEFAULTS.event_window_s:.0f} s of a shot is taken as part of it. Set RAW+JPEG and the "
        "capture target to the memory card on the body yourself, or add a profile to hardware/profiles/"
    )
