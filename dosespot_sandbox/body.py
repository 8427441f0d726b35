"""Reading request bodies: JSON only, validated against a request definition."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from dosespot_sandbox.validation import InvalidRequest, Spec, parse_json_body, validate

JSON_TYPES = {"", "application/json", "text/json", "application/problem+json"}


class UnsupportedMediaType(Exception):
    def __init__(self, media_type: str) -> None:
        super().__init__(media_type)
        self.media_type = media_type


async def read_body(request: Request, spec: Spec) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        raise UnsupportedMediaType(media_type)
    return validate(spec, parse_json_body(await request.body()))


__all__ = ["InvalidRequest", "UnsupportedMediaType", "read_body"]
