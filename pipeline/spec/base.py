"""What every part of the search-space schema shares: strict models (an unknown key is an error) and
paths made absolute where they are read.

    class EvalConfig(Strict): ...
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def absolute_path(value: str | None) -> str | None:
    """Relative paths are taken from the working directory, then made absolute: Ray runs trials elsewhere."""
    return None if value is None else str(Path(value).expanduser().resolve())
