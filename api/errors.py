"""Domain errors carry their HTTP status; one handler renders them, one renders bad input."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorPublic(BaseModel):
    """Every error answer: a stable code, a sentence for people, and what the error adds."""

    model_config = ConfigDict(extra="allow", title="Error")

    error: str = Field(description="A stable code: unauthorized, forbidden, not_found, ...")
    detail: str = Field(description="What went wrong, for people")
    state: str | None = Field(
        default=None, description="On a 409: the state of the resource that refused the action"
    )
    allowed_actions: list[str] | None = Field(
        default=None, description="On a 409: what the resource's state allows instead"
    )


class FieldErrorPublic(BaseModel):
    model_config = ConfigDict(title="FieldError")

    field: str = Field(description="The input at fault, dotted (locations.0.dea_number), or body")
    reason: str


class InvalidInputPublic(BaseModel):
    """Bad input (422): each field at fault and why; nothing was changed."""

    model_config = ConfigDict(title="InvalidInput")

    error: Literal["invalid_input"]
    detail: str = Field(description="Every field and reason in one sentence")
    errors: list[FieldErrorPublic]


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unprocessable(DomainError):
    """Input that parses but cannot be accepted; names the field and the reason."""

    status_code = 422
    code = "invalid_input"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


class Unavailable(DomainError):
    status_code = 503
    code = "unavailable"


def _field(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    if error.get("type") == "json_invalid":
        # The location is ("body", offset): the body as a whole is at fault.
        return "body"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[-1] if loc else "body")


def _reason(error: dict[str, Any]) -> str:
    if error.get("type") == "extra_forbidden":
        return "unknown field"
    if error.get("type") == "missing":
        return "field required"
    if error.get("type") == "json_invalid":
        loc = error.get("loc") or ()
        where = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        cause = (error.get("ctx") or {}).get("error")
        return f"the body is not valid JSON{where}" + (f" ({cause})" if cause else "")
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


# Errors Starlette and FastAPI raise themselves (an unknown path, a method the path lacks).
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        body: dict[str, Any] = {"error": exc.code, "detail": exc.message, **exc.extra}
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # A JSON body that is not UTF-8 text is bad input like any other malformed body.
            reason = "the body is not valid JSON (it is not UTF-8 text)"
            return JSONResponse(
                {
                    "error": "invalid_input",
                    "detail": f"body: {reason}",
                    "errors": [{"field": "body", "reason": reason}],
                },
                status_code=422,
            )
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e), "reason": _reason(e)} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return JSONResponse(
            {"error": "invalid_input", "detail": detail, "errors": errors}, status_code=422
        )
