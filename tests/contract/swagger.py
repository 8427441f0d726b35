"""DoseSpot's published Swagger, read in place from shared/dosespot, as JSON Schema validators.

The checks are stricter than the Swagger as written, so that a test can fail:

- Definitions are closed: a member the definition does not declare is an error
  (``additionalProperties: false`` is added to every object schema that lists its
  properties), so a misspelt member (``EpcsRequested`` for ``EPCSRequested``) fails
  instead of being ignored, as DoseSpot would silently ignore it.
- Formats are checked: ``date-time``, ``int32``, ``float``/``double`` and ``uuid``.
  jsonschema checks ``date-time`` only with the optional rfc3339-validator installed and
  ignores Swagger's numeric formats, so both are registered here.
- Query and path parameters are validated against the operation's parameters: each
  value as its declared type, enum and format, required ones present, undeclared ones
  refused.

``date-time`` is RFC 3339's ``date-time`` with the offset optional. The Swagger is
generated from .NET ``DateTime`` members, which DoseSpot writes without an offset
("2025-05-06T23:43:01.483", as integrators report) and reads with or without one, and a
date sent with an offset can be moved to the previous day by a server in a US time zone.
Everything else RFC 3339 asks is enforced: the ``T``, seconds, a real calendar date and
time, an offset if any in ``Z`` or ``+hh:mm`` form. A date alone, ``MM/DD/YYYY`` or a
space for ``T`` fails.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import jsonschema

ROOT = Path(__file__).resolve().parents[2]
SWAGGER_FULL = Path(
    os.environ.get(
        "ERX_DOSESPOT_SWAGGER",
        ROOT.parent / "shared" / "dosespot" / "swagger-full-epcs-v2.json",
    )
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$"
)

FORMAT_CHECKER = jsonschema.FormatChecker()


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def is_date_time(value: object) -> bool:
    """RFC 3339 date-time, offset optional (see the module docstring)."""
    if not isinstance(value, str):
        return True
    match = _DATE_TIME.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a date-time (YYYY-MM-DDThh:mm:ss[.f][Z|±hh:mm])")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    datetime(year, month, day, hour, minute, min(second, 59))  # a leap second is allowed
    offset = match.group(8)
    if offset and offset != "Z" and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59):
        raise ValueError(f"{value!r} has an impossible offset")
    return True


@FORMAT_CHECKER.checks("int32", raises=ValueError)
def is_int32(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT32_MIN <= value <= INT32_MAX:
            raise ValueError(f"{value} is outside int32")
    return True


@FORMAT_CHECKER.checks("int64", raises=ValueError)
def is_int64(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value <= 2**63 - 1:
            raise ValueError(f"{value} is outside int64")
    return True


@lru_cache
def load_swagger(path: Path = SWAGGER_FULL) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def closed(schema: Any) -> Any:
    """A copy of ``schema`` in which every object schema listing properties admits no other."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    if "properties" in schema:
        # The keys of "properties" are member names, not schemas: copied as they are.
        result["properties"] = {
            name: closed(member) for name, member in schema["properties"].items()
        }
        result.setdefault("additionalProperties", False)
    return result


@lru_cache
def _closed_definitions(path: Path = SWAGGER_FULL) -> dict[str, Any]:
    definitions: dict[str, Any] = closed(copy.deepcopy(load_swagger(path)["definitions"]))
    return definitions


def path_template(method: str, path: str, paths: Mapping[str, Any] | None = None) -> str:
    """The Swagger path template of ``path``: the exact path, else the most specific match."""
    if paths is None:
        paths = load_swagger()["paths"]
    if path in paths and method.lower() in paths[path]:
        return path
    candidates = []
    for template, operations in paths.items():
        if method.lower() not in operations:
            continue
        pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path, flags=re.IGNORECASE):
            candidates.append(template)
    if not candidates:
        raise KeyError(f"no Swagger operation {method.upper()} {path}")
    # "/api/patients/search" is a literal, not a patientId.
    return min(candidates, key=lambda template: template.count("{"))


def _operation(method: str, path: str, spec_path: Path = SWAGGER_FULL) -> dict[str, Any]:
    paths = load_swagger(spec_path)["paths"]
    operation: dict[str, Any] = paths[path_template(method, path, paths)][method.lower()]
    return operation


def _validator(
    schema: dict[str, Any], spec_path: Path = SWAGGER_FULL
) -> jsonschema.Draft4Validator:
    wrapped = {**closed(schema), "definitions": _closed_definitions(spec_path)}
    return jsonschema.Draft4Validator(wrapped, format_checker=FORMAT_CHECKER)


def request_schema(method: str, path: str) -> dict[str, Any]:
    op = _operation(method, path)
    for param in op.get("parameters", []):
        if param.get("in") == "body":
            schema: dict[str, Any] = param["schema"]
            return schema
    raise KeyError(f"{method} {path} takes no body")


def response_schema(method: str, path: str, status: str = "200") -> dict[str, Any]:
    schema: dict[str, Any] = _operation(method, path)["responses"][status]["schema"]
    return schema


def validate_request(method: str, path: str, body: Any) -> None:
    """Raise jsonschema.ValidationError unless ``body`` fits the operation's request schema."""
    _validator(request_schema(method, path)).validate(body)


def validate_response(method: str, path: str, body: Any) -> None:
    """Raise jsonschema.ValidationError unless ``body`` fits the operation's 200 response schema."""
    _validator(response_schema(method, path)).validate(body)


def validate_definition(name: str, instance: Any) -> None:
    """Raise jsonschema.ValidationError unless ``instance`` fits the (closed) definition."""
    _validator({"$ref": f"#/definitions/{name}"}).validate(instance)


# Parameters


def _parameter_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("type", "format", "enum", "items", "pattern", "minLength", "maxLength")
    schema = {key: param[key] for key in keys if key in param}
    # The Swagger bounds some string enums with minimum/maximum (their .NET numbers);
    # those bounds mean nothing for the names on the wire.
    if param.get("type") in ("integer", "number"):
        schema.update({key: param[key] for key in ("minimum", "maximum") if key in param})
    return schema


def _typed(value: str, schema: Mapping[str, Any]) -> Any:
    """A query or path value as its declared type, or left a string for the check to refuse."""
    kind = schema.get("type")
    text = value.strip()
    if kind == "integer" and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return value
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value


def _values(param: Mapping[str, Any], raw: list[str]) -> Any:
    if param.get("type") == "array":
        items = param.get("items", {})
        if param.get("collectionFormat") == "multi":
            parts = raw
        else:
            parts = [part for value in raw for part in value.split(",")]
        return [_typed(part, items) for part in parts]
    if len(raw) != 1:
        return raw  # a repeated scalar: the type check refuses the list
    return _typed(raw[0], param)


def validate_parameters(
    method: str, path: str, query: Mapping[str, list[str]] | Iterable[tuple[str, str]]
) -> None:
    """Raise jsonschema.ValidationError unless the path and query fit the operation's parameters.

    ``path`` is the request path relative to the API base (``/api/patients/5``); ``query``
    maps each name to its values, or lists ``(name, value)`` pairs.
    """
    if not isinstance(query, Mapping):
        pairs: dict[str, list[str]] = {}
        for name, value in query:
            pairs.setdefault(name, []).append(value)
        query = pairs
    spec = load_swagger()
    template = path_template(method, path, spec["paths"])
    params = _operation(method, path).get("parameters", [])

    path_names = re.findall(r"\{([^}]+)\}", template)
    pattern = "^" + re.sub(r"\{[^}]+\}", r"([^/]+)", template) + "$"
    match = re.match(pattern, path, flags=re.IGNORECASE)
    assert match is not None
    path_values = {
        name: unquote(value) for name, value in zip(path_names, match.groups(), strict=True)
    }

    declared_query = {p["name"]: p for p in params if p.get("in") == "query"}
    declared_path = {p["name"]: p for p in params if p.get("in") == "path"}
    problems = sorted(set(query) - set(declared_query))
    if problems:
        raise jsonschema.ValidationError(
            f"{method.upper()} {template}: undeclared query parameters {problems}"
        )
    if set(path_names) != set(declared_path):
        raise jsonschema.ValidationError(f"{template}: path parameters differ from the template")
    for name, param in declared_query.items():
        if name not in query:
            if param.get("required"):
                raise jsonschema.ValidationError(f"{template}: query parameter {name} is required")
            continue
        _check_parameter(template, name, param, _values(param, query[name]))
    for name, param in declared_path.items():
        _check_parameter(template, name, param, _typed(path_values[name], param))


def _check_parameter(template: str, name: str, param: Mapping[str, Any], value: Any) -> None:
    validator = jsonschema.Draft4Validator(_parameter_schema(param), format_checker=FORMAT_CHECKER)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        raise jsonschema.ValidationError(f"{template}: parameter {name}: {error.message}")


def validate_wire_request(request: httpx.Request, api_prefix: str) -> None:
    """Check a request as it left the client: path, query and body against the operation.

    ``api_prefix`` is the base URL's path (``/webapi/v2/``); the token endpoint is not in
    the Swagger and is not checked here.
    """
    path = "/" + request.url.path.removeprefix(api_prefix).lstrip("/")
    method = request.method
    validate_parameters(method, path, request.url.params.multi_items())
    body_params = [
        p for p in _operation(method, path).get("parameters", []) if p.get("in") == "body"
    ]
    content = request.content
    if not body_params:
        if content:
            raise jsonschema.ValidationError(f"{method} {path} takes no body, one was sent")
        return
    if not content:
        if body_params[0].get("required"):
            raise jsonschema.ValidationError(f"{method} {path} needs a body, none was sent")
        return
    validate_request(method, path, json.loads(content))
