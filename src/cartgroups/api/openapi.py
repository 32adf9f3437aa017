"""The OpenAPI document, derived from the route table and the field table, so it cannot drift
from what the server does. A copy is committed as openapi.json and kept current by a test."""

from __future__ import annotations

from typing import Any

from cartgroups import __version__
from cartgroups.api.routes import OPERATIONS, PREFIX, VERSIONS, Operation
from cartgroups.model import EDITABLE, FIELDS, ID, FieldSpec
from cartgroups.service.customer_groups import LIMIT_DEFAULT, LIMIT_MAX
from cartgroups.service.idempotency import MAX_KEY_LENGTH

_REF = "#/components/schemas/"
_ERROR_STATUSES = {
    400: "Bad request: the body, a parameter or the path breaks a rule; Message names it.",
    401: "Authentication failure: the SecureURL/PrivateKey/Token combination is invalid, "
    "or the token lacks the read or write scope.",
    404: "Not found.",
    405: "The route does not support this method.",
    413: "The request body is larger than the server's limit.",
    415: "The request body is not JSON.",
    429: "Rate limit of the store and application exceeded (only when the server runs with "
    "--rate-limit); Retry-After says how many seconds until a request fits.",
    500: "Internal error.",
    503: "The database is unavailable; retry shortly.",
}


def _field_schema(spec: FieldSpec, *, lenient: bool) -> dict[str, Any]:
    """JSON Schema of one field; ``lenient`` for input, which also accepts numeric strings."""
    schema: dict[str, Any] = {"description": spec.description}
    if spec.kind == "string":
        schema |= {"type": "string", "maxLength": spec.max_length}
        if spec.required:
            schema["minLength"] = 1
    elif spec.kind == "boolean":
        schema["type"] = "boolean"
    elif spec.kind == "decimal":
        schema |= {"type": "number", "minimum": spec.minimum}
    else:
        schema |= {"type": "integer", "minimum": spec.minimum, "maximum": spec.maximum}
    if lenient and spec.kind in ("decimal", "integer", "id"):
        number = {k: v for k, v in schema.items() if k != "description"}
        schema = {"description": spec.description, "oneOf": [number, {"type": "string"}]}
    schema["example"] = spec.example
    return schema


def _object(fields: tuple[FieldSpec, ...], *, lenient: bool, required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f.wire: _field_schema(f, lenient=lenient) for f in fields},
    }
    if required:
        schema["required"] = required
    return schema


def _record(description: str) -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "description": description,
        "required": ["Key", "Value", "Status", "Message"],
        "properties": {"Key": text, "Value": text, "Status": text, "Message": text},
    }


def _schemas() -> dict[str, Any]:
    out = _object(FIELDS, lenient=False, required=[f.wire for f in FIELDS])
    create = _object(EDITABLE, lenient=True, required=[f.wire for f in EDITABLE if f.required])
    create["description"] = (
        "Property names match case-insensitively; unknown properties and CustomerGroupID are ignored."
    )
    patch = _object(EDITABLE, lenient=True, required=[])
    patch["description"] = "Only the properties present are changed."
    bulk = _object(FIELDS, lenient=True, required=[ID.wire])
    bulk["description"] = "One item of a bulk update: CustomerGroupID names the group to change."
    records = {"type": "array", "items": {"$ref": _REF + "ResultRecord"}}
    selected = _object(FIELDS, lenient=False, required=[])
    selected |= {
        "description": "A CustomerGroup with only the properties $select named, in wire order.",
        "minProperties": 1,
        "additionalProperties": False,
    }
    either = ("CustomerGroup", "CustomerGroupSelected")
    whole_or_selected = {"anyOf": [{"$ref": _REF + name} for name in either]}
    return {
        "CustomerGroup": out,
        "CustomerGroupSelected": selected,
        "CustomerGroupCreate": create,
        "CustomerGroupPatch": patch,
        "CustomerGroupBulkItem": bulk,
        "CustomerGroupList": {"type": "array", "items": whole_or_selected},
        "TotalCount": {
            "type": "object",
            "required": ["TotalCount"],
            "properties": {"TotalCount": {"type": "integer", "minimum": 0}},
        },
        "ResultRecord": _record("Outcome of a write: Key names the id, Value is the id as text."),
        "ResultRecords": records,
        "ErrorRecord": _record('An error: Key is "Error", Status is the HTTP status as text.'),
        "ErrorRecords": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1,
            "items": {"$ref": _REF + "ErrorRecord"},
        },
    }


# XML (api/xml.py): the element names XmlSerializer gives each schema (the JSON ignores them).
_XML_NAMES: dict[str, dict[str, Any]] = {
    "CustomerGroup": {"name": "CustomerGroup"},
    "CustomerGroupSelected": {"name": "CustomerGroup"},
    "CustomerGroupCreate": {"name": "CustomerGroup"},
    "CustomerGroupPatch": {"name": "CustomerGroup"},
    "CustomerGroupBulkItem": {"name": "CustomerGroup"},
    "CustomerGroupList": {"name": "ArrayOfCustomerGroup", "wrapped": True},
    "TotalCount": {"name": "CountResult"},
    "ResultRecord": {"name": "Record"},
    "ResultRecords": {"name": "ArrayOfRecord", "wrapped": True},
    "ErrorRecord": {"name": "Record"},
    "ErrorRecords": {"name": "ArrayOfRecord", "wrapped": True},
}
_XML_TYPES = ("application/xml", "text/xml")


def _xml_named(schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {**schema, "xml": _XML_NAMES[name]} if name in _XML_NAMES else schema
        for name, schema in schemas.items()
    }


def _replies(media: dict[str, Any]) -> dict[str, Any]:
    """A response's content: JSON (with the example), and the same schema as XML, which Accept
    chooses (docs/api.md, "Content negotiation and XML")."""
    xml = {"schema": media["schema"]}
    return {"application/json; charset=utf-8": media, **{f"{t}; charset=utf-8": xml for t in _XML_TYPES}}


def _json(ref: str, description: str, example: object = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": _REF + ref}}
    if example is not None:
        media["example"] = example
    return {"description": description, "content": _replies(media)}


_EXAMPLE_GROUP = {f.wire: f.example for f in FIELDS}
_EXAMPLE_BODY = {f.wire: f.example for f in EDITABLE}


_ETAG_HEADER = {
    "description": "Strong validator of the group: a hash of the exact response bytes.",
    "schema": {"type": "string"},
}
_REPLAYED_HEADER = {
    "description": '"true" when this is the stored response of an earlier request with the '
    "same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}


def _success(op: Operation) -> dict[str, Any]:
    def done(status: int, message: str) -> dict[str, Any]:
        return _json(
            "ResultRecords",
            message,
            [{"Key": ID.wire, "Value": "1", "Status": str(status), "Message": message}],
        )

    entity = op.resource.entity
    if op.kind == "list":
        return {
            "200": {
                "description": f"{op.resource.many.capitalize()} in ascending id order, or "
                '{"TotalCount":N} with countonly=1.',
                "content": _replies(
                    {"schema": {"oneOf": [{"$ref": _REF + entity + "List"}, {"$ref": _REF + "TotalCount"}]}}
                ),
            }
        }
    if op.kind == "get":
        found = _json(entity + "List", "A one-element array.", [_EXAMPLE_GROUP])
        found["headers"] = {"ETag": _ETAG_HEADER}
        return {
            "200": found,
            "304": {
                "description": "If-None-Match named the current ETag: the client's copy is current.",
                "headers": {"ETag": _ETAG_HEADER},
            },
        }
    if op.kind == "bulk_update":
        return {
            "200": done(200, "updated successfully"),
            "206": _json("ResultRecords", "Some items failed; one record per item, in request order."),
        }
    message = {201: "Created successfully", 200: "updated successfully"}[op.success]
    if op.method == "DELETE":
        message = "Deleted successfully"
    return {str(op.success): done(op.success, message)}


def _request_body(op: Operation) -> dict[str, Any]:
    entity = op.resource.entity
    if op.kind == "bulk_update":
        schema: dict[str, Any] = {
            "type": "array",
            "items": {"$ref": _REF + entity + "BulkItem"},
            "xml": {"name": "ArrayOf" + entity, "wrapped": True},
        }
        example: object = [{op.resource.id_field.wire: 1, **_EXAMPLE_BODY}]
    else:
        ref = entity + ("Create" if op.kind == "create" else "Patch")
        schema, example = {"$ref": _REF + ref}, _EXAMPLE_BODY
    xml = {"schema": schema}
    content = {"application/json": {"schema": schema, "example": example}, **dict.fromkeys(_XML_TYPES, xml)}
    return {"required": True, "content": content}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": "version",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": list(VERSIONS)},
            "description": "API version; v1 and v2 behave identically for this resource.",
        }
    ]
    if op.route == "item":
        id_field = op.resource.id_field
        params.append(
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": id_field.minimum, "maximum": id_field.maximum},
                "description": f"The {id_field.wire}.",
            }
        )
    if op.kind == "list":
        params += [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT},
                "description": "Page size. An empty value means the default.",
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 0, "default": 1},
                "description": "1-based index of the first record (0 is taken as 1). "
                "Past the end: 400 'Offset amount exceeds the total number of records'.",
            },
            {
                "name": "countonly",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "enum": [0, 1], "default": 0},
                "description": '1 returns {"TotalCount":N} and ignores limit and offset '
                "(and $select and $orderby).",
            },
        ]
    if op.method == "GET":
        params += _odata_parameters()
    return params


_PROPERTIES = ", ".join(f.wire for f in FIELDS)


def _odata_parameters() -> list[dict[str, Any]]:
    """OData's $select and $orderby (api/odata.py): applied to the result already built."""
    return [
        {
            "name": "$select",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "example": "Name,CustomerGroupID",
            "description": "OData: only these properties, comma-separated, any letter case; written "
            f"in wire order; * is all. Properties: {_PROPERTIES}. Applied to the result already "
            "built (the page). An unknown property or an empty item is a 400.",
        },
        {
            "name": "$orderby",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "example": "Name desc,PriceLevel",
            "description": "OData: 'Property [asc|desc]' items, comma-separated, any letter case; "
            "later items sort what earlier ones leave equal, the rest keeps id order. Sorts the "
            "result already built: with limit and offset, the page returned, not the whole store. "
            "An unknown property or direction, an empty item or a property twice is a 400.",
        },
    ]


def _header(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string", **schema},
        "description": description,
    }


def _optional_headers(op: Operation) -> list[dict[str, Any]]:
    """The opt-in headers 3dcart clients never send (see docs/reliability.md)."""
    if op.kind == "get":
        return [_header("If-None-Match", "ETags of copies the client has; a match answers 304.")]
    if op.route == "item" and op.writes:
        return [
            _header(
                "If-Match",
                f"Change the {op.resource.one} only if its ETag is one of these (or * for any "
                f"existing {op.resource.one}); otherwise 412 and nothing changes.",
            )
        ]
    if op.keyed:
        return [
            _header(
                "Idempotency-Key",
                "A retry with the same key (per store and application, for 24 hours) gets the "
                "first response and writes nothing; the same key with another body is 422.",
                minLength=1,
                maxLength=MAX_KEY_LENGTH,
                pattern="^[!-~]+$",
            )
        ]
    return []


def _extra_responses(op: Operation) -> dict[str, Any]:
    if op.route == "item" and op.writes:
        changed = f"If-Match did not match: the {op.resource.one} changed; nothing changed."
        return {"412": _json("ErrorRecords", changed)}
    if op.keyed:
        return {"422": _json("ErrorRecords", "The Idempotency-Key was used with a different request.")}
    return {}


def _operation(op: Operation) -> dict[str, Any]:
    success = _success(op)
    if op.keyed:
        for response in success.values():
            response["headers"] = {"Idempotent-Replayed": _REPLAYED_HEADER}
    errors = {str(s): _json("ErrorRecords", d) for s, d in _ERROR_STATUSES.items() if s != 405}
    errors[str(429)]["headers"] = {
        "Retry-After": {
            "description": "Whole seconds until one request fits in the bucket again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.resource.path],
        "parameters": _parameters(op) + _optional_headers(op),
        "responses": dict(sorted({**success, **_extra_responses(op), **errors}.items())),
    }
    if op.kind == "bulk_update":
        # When no item is written, the answer is one record per item (see docs/api.md).
        nothing = f"No item names an existing {op.resource.one}"
        for status, when in ((400, "Every item is invalid"), (404, nothing)):
            doc["responses"][str(status)] = _json(
                "ResultRecords",
                f"{_ERROR_STATUSES[status]} {when}: one record per item, in request order.",
            )
    if op.has_body:
        doc["requestBody"] = _request_body(op)
    return doc


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        path = f"{PREFIX}/{{version}}/{op.resource.path}" + ("/{id}" if op.route == "item" else "")
        paths.setdefault(path, {})[op.method.lower()] = _operation(op)
    paths["/healthz"] = {
        "get": {
            "operationId": "health",
            "summary": "Report whether the database is reachable",
            "tags": ["Operations"],
            "security": [],
            "responses": {
                "200": {
                    "description": "Up.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "503": {
                    "description": "The database is unreachable.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
            },
        }
    }
    header = {"type": "apiKey", "in": "header"}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "cartgroups: 3dcart CustomerGroups API",
            "version": __version__,
            "description": "The 3dcart (Shift4Shop) REST API CustomerGroups resource, byte for byte. "
            "Send SecureURL, PrivateKey and Token headers on every request "
            "(Authorization: Bearer may replace Token).",
        },
        "paths": paths,
        "components": {
            "schemas": _xml_named(_schemas()),
            "securitySchemes": {
                "SecureURL": {**header, "name": "SecureURL", "description": "The store's address."},
                "PrivateKey": {**header, "name": "PrivateKey", "description": "The application's key."},
                "Token": {
                    **header,
                    "name": "Token",
                    "description": "The store's authorization of the application.",
                },
                "Bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The same token, OAuth style, in place of Token.",
                },
            },
        },
        "security": [
            {"SecureURL": [], "PrivateKey": [], "Token": []},
            {"SecureURL": [], "PrivateKey": [], "Bearer": []},
        ],
    }


def main() -> None:
    """``python -m cartgroups.api.openapi > openapi.json`` refreshes the committed copy."""
    import json

    print(json.dumps(build(), indent=2))


if __name__ == "__main__":
    main()
