"""`rdrf schemas`: the JSON Schema of every record that crosses a boundary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rdrf.console import say
from schemas.records import RECORDS

app = typer.Typer()

SCHEMA_DIR = Path(__import__("schemas").__file__).parent / "jsonschema"


def schema_files() -> dict[str, str]:
    """The JSON Schema text of every record, as `rdrf schemas --write` writes it."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for name, model in RECORDS.items()
    }


@app.command("schemas")
def schemas_cmd(
    write: Annotated[bool, typer.Option("--write", help="Write the JSON Schema files into schemas/jsonschema/.")] = False,
) -> None:
    """Print (or write) the JSON Schema of every record that crosses a boundary.

    Example: rdrf schemas --write
    """
    files = schema_files()
    if write:
        SCHEMA_DIR.mkdir(exist_ok=True)
        for name, text in files.items():
            (SCHEMA_DIR / name).write_text(text)
        say(f"wrote {len(files)} schema files to {SCHEMA_DIR}")
    else:
        print(json.dumps({name: json.loads(text) for name, text in files.items()}, indent=2))
