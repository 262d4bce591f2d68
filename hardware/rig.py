"""The rig around the camera: glass slab, light-blocking box, spray bottle, wireless remote.

The capture protocol (seeds/000 sec. 3.2) changes the rig between shots: box on for the ground truth;
box off, water sprayed and the glass rotated for every degraded shot. On a real rig the operator does
that when prompted (`ManualRig` does nothing); the virtual rig (virtual.py) changes its own state.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from schemas.vocabulary import Role


@runtime_checkable
class Rig(Protocol):
    automatic: bool  # True: the rig sets itself up and fires its remote; no operator needed

    def set_scene(self, label: str, category: str | None) -> None: ...

    def prepare(self, role: Role, index: int, *, bracket: bool = False) -> None:
        """Set the rig up for shot `index` of `role` (gt: box on, dry; lq: box off, spray, rotate);
        `bracket`: the GT closing a degraded series (box back on, glass dried or the dry slab)."""
        ...

    def press_remote(self) -> None:
        """Fire the shutter with the wireless remote (only an automatic rig can)."""
        ...

    def close(self) -> None:
        """Release what the rig holds (the virtual rig's working folder)."""
        ...


class ManualRig:
    """A real rig: the operator follows the prompts; nothing here can act on it."""

    automatic = False

    def set_scene(self, label: str, category: str | None) -> None:
        pass

    def prepare(self, role: Role, index: int, *, bracket: bool = False) -> None:
        pass

    def press_remote(self) -> None:
        raise RuntimeError("a manual rig's remote is pressed by the operator")

    def close(self) -> None:
        pass


def parse_glass(text: str | float) -> float:
    """'5mm', '5 mm', '5' or 5.0 -> 5.0 (glass thickness in millimetres)."""
    from schemas.errors import RdrfError

    if isinstance(text, (int, float)):
        value = float(text)
    else:
        t = text.strip().lower().removesuffix("mm").strip()
        try:
            value = float(t)
        except ValueError:
            raise RdrfError(f"--glass {text!r}: expected a thickness in millimetres such as 3mm, 5mm or 8mm", exit_code=2) from None
    if not 0 < value < 100:
        raise RdrfError(f"--glass {text!r}: expected a thickness between 0 and 100 mm (the RDRF rig used 3, 5 and 8 mm)", exit_code=2)
    return value
