"""DoseSpot's published Swagger, read in place from shared/dosespot, as JSON Schema validators."""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
SWAGGER_FULL = Path(
    os.environ.get(
        "ERX_DOSESPOT_SWAGGER",
        ROOT.parent / "shared" / "dosespot" / "swagger-full-epcs-v2.json",
    )
)


@lru_cache
def load_swagger(path: Path = SWAGGER_FULL) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _operation(method: str, path: str) -> dict[str, Any]:
    spec = load_swagger()
    paths = spec["paths"]
    template = path if path in paths else _match_template(path, paths)
    return paths[template][method.lower()]


def _match_template(path: str, paths: dict[str, Any]) -> str:
    for template in paths:
        pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path, flags=re.IGNORECASE):
            return template
    raise KeyError(f"no Swagger path matches {path}")


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    spec = load_swagger()
    wrapped = {**schema, "definitions": spec["definitions"]}
    return jsonschema.Draft4Validator(
        wrapped, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


def request_schema(method: str, path: str) -> dict[str, Any]:
    op = _operation(method, path)
    for param in op.get("parameters", []):
        if param.get("in") == "body":
            return param["schema"]
    raise KeyError(f"{method} {path} takes no body")


def response_schema(method: str, path: str, status: str = "200") -> dict[str, Any]:
    return _operation(method, path)["responses"][status]["schema"]


def validate_request(method: str, path: str, body: Any) -> None:
    """Raise jsonschema.ValidationError unless ``body`` fits the operation's request schema."""
    _validator(request_schema(method, path)).validate(body)


def validate_response(method: str, path: str, body: Any) -> None:
    """Raise jsonschema.ValidationError unless ``body`` fits the operation's 200 response schema."""
    _validator(response_schema(method, path)).validate(body)
