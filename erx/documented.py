"""What an input's validator checks, written into the OpenAPI document as well.

The validators give each refusal its own message (an NPI's check digit, a 555 area code);
pydantic's own ``pattern`` would answer every refusal with "String should match pattern".
``Documented`` leaves validation to them and only adds the format a client needs to build a
valid request (a pattern, the accepted values, an example) to the field's JSON schema, so a
client generated from the document sends what the API takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


@dataclass(frozen=True)
class Documented:
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.examples:
            schema["examples"] = list(self.examples)
        return schema
