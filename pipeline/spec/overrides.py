"""`--set dotted.key=value` overrides of a search-space file, applied to its raw YAML mapping
before validation, so an override is checked exactly like a key written in the file."""

from __future__ import annotations

from collections.abc import Collection

import yaml

from pipeline.errors import UserError

# Keys of `parameters` and `scheduler.mutations` hold dots themselves (`model.dropout`).
DOTTED_KEY_SECTIONS = (["parameters"], ["scheduler", "mutations"])


class OverrideError(UserError, ValueError):
    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def apply_override(raw: dict, override: str, samplers: Collection[str]) -> None:
    """Apply one `--set dotted.key=value`, the value parsed as a YAML scalar or flow collection.

    `samplers` are the fields of a swept value (grid, choice, ..., when): the last part of
    `parameters.model.dropout.grid` is one, the parts before it name the swept key.
    """
    key, sep, text = override.partition("=")
    if not sep or not key:
        raise OverrideError(override, "--set takes dotted.key=value")
    value = yaml.safe_load(text)
    path = split_override_key(key, samplers)
    node = raw
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise OverrideError(key, f"--set goes through {part!r}, which is not a mapping")
        node = child
    node[path[-1]] = value


def split_override_key(key: str, samplers: Collection[str]) -> list[str]:
    """`parameters.model.dropout.grid` -> ['parameters', 'model.dropout', 'grid']."""
    parts = key.split(".")
    for head in DOTTED_KEY_SECTIONS:
        if parts[: len(head)] == head and len(parts) > len(head):
            rest = parts[len(head) :]
            if rest[-1] in samplers and len(rest) > 1:
                return [*head, ".".join(rest[:-1]), rest[-1]]
            return [*head, ".".join(rest)]
    return parts
