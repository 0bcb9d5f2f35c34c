"""The search-space file's reference, generated from the schema: every key of SweepSpec with its type,
default, bounds and the comment the schema gives it, one table per mapping, in file order.

    python -m pipeline.spec.reference > docs/SEARCH_SPACE.md

tests/test_docs.py fails when docs/SEARCH_SPACE.md differs from what this prints, so the reference
changes with the schema. The descriptions are the schema's own field comments (the block above a
field and the comment at its end), read from the source, so there is one place to write them.
"""

from __future__ import annotations

import inspect
import io
import re
import sys
import tokenize
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pipeline.spec.config import SweepSpec

BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """{field: its comment} for the fields `model` declares itself: the comment lines right above the
    field, then the comment at the end of its line."""
    lines, _ = inspect.getsourcelines(model)
    source = "".join(lines)
    trailing: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:  # a type checker's note is no description
            trailing[token.start[0] - 1] = re.sub(r"type: ignore\S*", "", token.string.lstrip("#")).strip()
    comments = {}
    for number, line in enumerate(lines):
        declared = re.match(r"\s{4}(\w+)\s*:", line)
        if not declared or declared.group(1) not in model.__annotations__:
            continue
        above = []
        for previous in range(number - 1, -1, -1):
            if not lines[previous].strip().startswith("#"):
                break
            above.insert(0, trailing[previous])
        end = [trailing[number]] if number in trailing and not line.strip().startswith("#") else []
        comments[declared.group(1)] = " ".join(above + end)
    return comments


def described(model: type[BaseModel]) -> dict[str, str]:
    """Field comments of `model` and the classes it inherits fields from."""
    comments: dict[str, str] = {}
    for base in reversed(model.__mro__):
        if isinstance(base, type) and issubclass(base, BaseModel) and base is not BaseModel:
            comments |= field_comments(base) if "__annotations__" in base.__dict__ else {}
    return comments


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The mappings a field's value may be (its BaseModel types, a union's members, a dict's values)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in get_args(annotation) for model in models_in(argument)]


def type_name(annotation: Any) -> str:
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return type_name(arguments[0])
    if origin is Literal:
        return " \\| ".join(str(value) for value in arguments)
    if origin in (Union, types.UnionType):
        return " \\| ".join(type_name(argument) for argument in arguments)
    if origin is list:
        return f"list of {type_name(arguments[0])}"
    if origin is tuple:
        return f"[{', '.join(type_name(argument) for argument in arguments)}]"
    if origin is dict:
        return f"mapping: {type_name(arguments[0])} to {type_name(arguments[1])}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"mapping ({annotation.__name__})"
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def default_text(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default if field.default is not PydanticUndefined else field.default_factory()
    if isinstance(value, BaseModel):
        return "its defaults"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return f"`{value}`" if value not in ({}, []) else "empty"


def bounds_text(field: Any) -> str:
    bounds = [f"{BOUNDS[name]} {getattr(item, name)}" for item in field.metadata for name in BOUNDS
              if getattr(item, name, None) is not None]
    return ", ".join(bounds)


def section(keys: list[str], model: type[BaseModel]) -> list[str]:
    comments = described(model)
    intro = inspect.getdoc(model) if model.__doc__ and model.__doc__ != BaseModel.__doc__ else ""
    heading = ", ".join(f"`{key}`" if key else "The top level" for key in keys)
    lines = [f"## {heading}", ""] + ([intro.replace("\n", " "), ""] if intro else [])
    lines += ["| key | type | default | bounds | what |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        what = comments.get(name, "").replace("|", "\\|")
        lines.append(f"| `{name}` | {type_name(field.annotation)} | {default_text(field)} | {bounds_text(field)} "
                     f"| {what} |")
    return lines + [""]


def mappings() -> dict[type[BaseModel], list[str]]:
    """Every mapping of the file, in the order a reader meets it, with the keys it is found at."""
    found: dict[type[BaseModel], list[str]] = {}
    pending: list[tuple[str, type[BaseModel]]] = [("", SweepSpec)]
    while pending:
        key, model = pending.pop(0)
        if model in found:
            found[model].append(key)
            continue
        found[model] = [key]
        for name, field in model.model_fields.items():
            inner = models_in(field.annotation)
            child = (f"{key}.{name}" if key else name) + (".KEY" if get_origin(field.annotation) is dict else "")
            for member in inner:
                if len(inner) > 1 and "name" in member.model_fields:  # one of a union picked by its name
                    [picked] = get_args(member.model_fields["name"].annotation)
                    pending.append((f"{child} (name: {picked})", member))
                else:
                    pending.append((child, member))
    return found


def reference() -> str:
    """The whole reference, as docs/SEARCH_SPACE.md holds it."""
    lines = ["# The search-space file, key by key", "",
             "Generated from the schema (`pipeline/spec/config.py`, `pipeline/spec/datasets.py`) by",
             "`python -m pipeline.spec.reference > docs/SEARCH_SPACE.md`; a test fails when this file is stale.",
             "docs/USAGE.md explains how the keys work together. `KEY` stands for a dotted trial key, e.g.",
             "`model.dropout`; `trial.dataset` is one of the mappings whose `name` is given.", ""]
    for model, keys in mappings().items():
        lines += section(keys, model)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(reference())
