"""Template files to plain data: YAML (safe, every key once) or JSON; syntax errors as TemplateError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from forms.errors import TemplateError


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when there, about 4x faster) refusing a key given twice in one mapping
    (PyYAML keeps the last silently)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key '{key}' is given twice in one mapping", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _json_no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key '{k}' is given twice in one object")
        out[k] = v
    return out


def parse_text(text: str, path: Path) -> Any:
    """YAML or JSON text to plain data; syntax errors become TemplateError with line and column."""
    file = str(path)
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text, object_pairs_hook=_json_no_duplicates)
        except json.JSONDecodeError as exc:
            raise TemplateError(file, "", f"invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})") from exc
        except ValueError as exc:
            raise TemplateError(file, "", f"invalid JSON ({exc})") from exc
        except RecursionError:
            raise TemplateError(file, "", "the data is nested too deeply to be a template") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise TemplateError(file, "", "the data is nested too deeply to be a template") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TemplateError(file, "", f"invalid YAML{where} ({problem})") from exc
