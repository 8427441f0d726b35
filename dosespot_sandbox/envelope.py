"""DoseSpot's response envelope and error bodies.

On ERROR, value-typed members keep their .NET default (``Id: 0``) and object members are
left out: DoseSpot would send ``null``, which its own Swagger does not allow.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

OK = "OK"
ERROR = "ERROR"


def result(description: str = "", code: str = OK) -> dict[str, str]:
    return {"ResultCode": code, "ResultDescription": description}


def ok(**members: Any) -> JSONResponse:
    return JSONResponse({**members, "Result": result()})


def error(description: str, **members: Any) -> JSONResponse:
    """A business refusal: HTTP 200 with ResultCode ERROR."""
    return JSONResponse({**members, "Result": result(description, ERROR)})


def invalid_request(model_state: dict[str, list[str]]) -> JSONResponse:
    return JSONResponse(
        {"Message": "The request is invalid.", "ModelState": model_state}, status_code=400
    )


def unauthorized() -> JSONResponse:
    return JSONResponse(
        {"Message": "Authorization has been denied for this request."},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def gateway_error(status_code: int, message: str, headers: dict[str, str] | None = None):
    """Errors raised by the API gateway in front of DoseSpot (Azure API Management style)."""
    return JSONResponse(
        {"statusCode": status_code, "message": message}, status_code=status_code, headers=headers
    )


def paged(items: list[Any], page_number: int, page_size: int) -> JSONResponse:
    """``{Items, PageResult, Result}``: one page of ``items`` (pages are 1-based)."""
    total = len(items)
    total_pages = (total + page_size - 1) // page_size
    start = (page_number - 1) * page_size
    page_result = {
        "CurrentPage": page_number,
        "TotalPages": total_pages,
        "PageSize": page_size,
        "TotalCount": total,
        "HasPrevious": page_number > 1,
        "HasNext": page_number < total_pages,
    }
    return ok(Items=items[start : start + page_size], PageResult=page_result)
