"""The OpenAPI document, derived from the route table and the field table, so it cannot drift
from what the server does. A copy is committed as openapi.json and kept current by a test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cartgroups import __version__
from cartgroups.api.routes import (
    CUSTOMER_GROUPS,
    CUSTOMERS,
    MEMBERS,
    OPERATIONS,
    PREFIX,
    VERSIONS,
    Operation,
    Resource,
)
from cartgroups.customer_model import (
    CUSTOMER_FIELDS,
    CUSTOMER_ID,
    PASSWORD,
    TEXT_FILTERS,
    TOTAL_STORE_CREDIT,
    WRITABLE,
)
from cartgroups.model import EDITABLE, FIELDS, FieldSpec
from cartgroups.service import customer_groups
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


@dataclass(frozen=True, slots=True)
class _Entity:
    """What the document says of one resource's object and its routes, beside its field table."""

    fields: tuple[FieldSpec, ...]  # the object, in wire order
    editable: tuple[FieldSpec, ...]  # what a create or an update body sets
    ignored: str  # what a create body may send that is ignored, for the create schema
    read_only: frozenset[FieldSpec]  # sent back, ignored when sent (readOnly)
    write_only: frozenset[FieldSpec]  # sent, never given back (writeOnly)
    nullable: frozenset[FieldSpec]  # strings that are null until set
    conditional: bool  # GET by id sends an ETag; updates and deletes take If-Match
    limit: dict[str, Any]  # the limit parameter: schema and description
    filters: tuple[dict[str, Any], ...]  # the list's other query parameters
    select_example: str
    order_example: str
    select_errors: str  # what $select does with what it cannot read
    order_errors: str  # and $orderby


def _filter(name: str, description: str, example: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }
    if example is not None:
        param["example"] = example
    return param


_DATE = (
    "as mm/dd/yyyy hh:mm:ss (24-hour clock) or mm/dd/yyyy (00:00:00), in the store's time zone "
    "(setting store_timezone, default UTC); inclusive. Anything else is a 400."
)
_NULLABLE_STRINGS = frozenset(
    f for f in CUSTOMER_FIELDS if f.kind == "string" and not f.required and f is not PASSWORD
)
_ENTITIES: dict[Resource, _Entity] = {
    CUSTOMER_GROUPS: _Entity(
        FIELDS,
        EDITABLE,
        "CustomerGroupID",
        frozenset(),
        frozenset(),
        frozenset(),
        conditional=True,
        limit={
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": customer_groups.LIMIT_MAX,
                "default": customer_groups.LIMIT_DEFAULT,
            },
            "description": "Page size. An empty value means the default.",
        },
        filters=(),
        select_example="Name,CustomerGroupID",
        order_example="Name desc,PriceLevel",
        select_errors="An unknown property or an empty item is a 400.",
        order_errors="An unknown property or direction, an empty item or a property twice is a 400.",
    ),
    CUSTOMERS: _Entity(
        CUSTOMER_FIELDS,
        WRITABLE,
        f"{CUSTOMER_ID.wire} and {TOTAL_STORE_CREDIT.wire}",
        frozenset({TOTAL_STORE_CREDIT}),
        frozenset({PASSWORD}),
        _NULLABLE_STRINGS,
        conditional=False,
        limit={
            "schema": {
                "type": "integer",
                "minimum": 0,
                "maximum": customer_groups.LIMIT_MAX,
                "default": customer_groups.LIMIT_DEFAULT,
            },
            "description": f"Page size; 0 or an empty value means {customer_groups.LIMIT_DEFAULT}.",
        },
        filters=(
            *(
                _filter(
                    name,
                    f"Only customers whose {spec.wire} is this, compared trimmed and in any letter "
                    "case (an empty value: no filter). Filters combine with AND.",
                )
                for name, spec in TEXT_FILTERS.items()
            ),
            _filter(
                "lastupdatestart", f"Only customers changed at or after this time, {_DATE}", "01/31/2024"
            ),
            _filter(
                "lastupdateend",
                f"Only customers changed at or before this time, {_DATE}",
                "12/31/2024 23:59:59",
            ),
        ),
        select_example="Email,BillingLastName",
        order_example="BillingLastName,Email desc",
        select_errors="Never an error (D9): an unknown property or an empty item is ignored; "
        "naming no property is naming all.",
        order_errors="Never an error (D9): an item that is not a known property with asc or "
        "desc, an empty item and a property's second item are ignored.",
    ),
}


def _field_schema(spec: FieldSpec, entity: _Entity, *, lenient: bool) -> dict[str, Any]:
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
    schema = {k: v for k, v in schema.items() if v is not None}
    if lenient and spec.kind in ("decimal", "integer", "id"):
        number = {k: v for k, v in schema.items() if k != "description"}
        schema = {"description": spec.description, "oneOf": [number, {"type": "string"}]}
    if spec in entity.nullable:
        schema["nullable"] = True
    if spec in entity.read_only:
        schema["readOnly"] = True
    if spec in entity.write_only:
        schema["writeOnly"] = True
    schema["example"] = spec.example
    return schema


def _object(
    fields: tuple[FieldSpec, ...], entity: _Entity, *, lenient: bool, required: list[str]
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f.wire: _field_schema(f, entity, lenient=lenient) for f in fields},
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


def _entity_schemas(resource: Resource) -> dict[str, Any]:
    """The schemas of one resource's object: as written, with $select, and as read."""
    entity, name, id_field = _ENTITIES[resource], resource.entity, resource.id_field
    out = _object(entity.fields, entity, lenient=False, required=[f.wire for f in entity.fields])
    create = _object(
        entity.editable, entity, lenient=True, required=[f.wire for f in entity.editable if f.required]
    )
    create["description"] = (
        f"Property names match case-insensitively; unknown properties and {entity.ignored} are ignored."
    )
    patch = _object(entity.editable, entity, lenient=True, required=[])
    patch["description"] = "Only the properties present are changed."
    bulk = _object(entity.fields, entity, lenient=True, required=[id_field.wire])
    noun = resource.one.split()[-1]  # "group", "customer"
    bulk["description"] = f"One item of a bulk update: {id_field.wire} names the {noun} to change."
    selected = _object(entity.fields, entity, lenient=False, required=[])
    selected |= {
        "description": f"A {name} with only the properties $select named, in wire order.",
        "minProperties": 1,
        "additionalProperties": False,
    }
    either = (name, name + "Selected")
    whole_or_selected = {"anyOf": [{"$ref": _REF + one} for one in either]}
    return {
        name: out,
        name + "Selected": selected,
        name + "Create": create,
        name + "Patch": patch,
        name + "BulkItem": bulk,
        name + "List": {"type": "array", "items": whole_or_selected},
    }


def _schemas() -> dict[str, Any]:
    records = {"type": "array", "items": {"$ref": _REF + "ResultRecord"}}
    return {
        **{name: schema for resource in _ENTITIES for name, schema in _entity_schemas(resource).items()},
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
    **{
        resource.entity + suffix: {"name": resource.entity}
        for resource in _ENTITIES
        for suffix in ("", "Selected", "Create", "Patch", "BulkItem")
    },
    **{
        resource.entity + "List": {"name": "ArrayOf" + resource.entity, "wrapped": True}
        for resource in _ENTITIES
    },
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


def _example(resource: Resource) -> dict[str, Any]:
    """The object as the server writes it after a create of _example_body's."""
    return {f.wire: f.example for f in _ENTITIES[resource].fields}


def _example_body(resource: Resource) -> dict[str, Any]:
    """A create or update body: every editable property that has an example."""
    entity = _ENTITIES[resource]
    return {f.wire: f.example for f in entity.editable if f.example is not None or f not in entity.nullable}


def _listed(op: Operation) -> Resource:
    """The resource whose objects an operation returns: a members route lists another's."""
    return MEMBERS[op.resource] if op.route == "members" else op.resource


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
            [{"Key": op.resource.id_field.wire, "Value": "1", "Status": str(status), "Message": message}],
        )

    listed = _listed(op)
    entity = listed.entity
    if op.kind in ("list", "members"):
        whose = f" of the {op.resource.one}" if op.kind == "members" else ""
        return {
            "200": {
                "description": f"{listed.many.capitalize()}{whose} in ascending id order, or "
                '{"TotalCount":N} with countonly=1.',
                "content": _replies(
                    {"schema": {"oneOf": [{"$ref": _REF + entity + "List"}, {"$ref": _REF + "TotalCount"}]}}
                ),
            }
        }
    if op.kind == "get":
        found = _json(entity + "List", "A one-element array.", [_example(listed)])
        if not _ENTITIES[listed].conditional:
            return {"200": found}
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
        example: object = [{op.resource.id_field.wire: 1, **_example_body(op.resource)}]
    else:
        ref = entity + ("Create" if op.kind == "create" else "Patch")
        schema, example = {"$ref": _REF + ref}, _example_body(op.resource)
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
    if op.route in ("item", "members"):
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
    entity = _ENTITIES[_listed(op)]
    if op.kind in ("list", "members"):
        params += [
            {"name": "limit", "in": "query", "required": False, **entity.limit},
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
            *entity.filters,
        ]
    if op.method == "GET":
        params += _odata_parameters(entity)
    return params


def _odata_parameters(entity: _Entity) -> list[dict[str, Any]]:
    """OData's $select and $orderby (api/odata.py): applied to the result already built."""
    properties = ", ".join(f.wire for f in entity.fields)
    return [
        {
            "name": "$select",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "example": entity.select_example,
            "description": "OData: only these properties, comma-separated, any letter case; written "
            f"in wire order; * is all. Properties: {properties}. Applied to the result already "
            f"built (the page). {entity.select_errors}",
        },
        {
            "name": "$orderby",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "example": entity.order_example,
            "description": "OData: 'Property [asc|desc]' items, comma-separated, any letter case; "
            "later items sort what earlier ones leave equal, the rest keeps id order. Sorts the "
            "result already built: with limit and offset, the page returned, not the whole store. "
            + entity.order_errors,
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
    conditional = _ENTITIES[op.resource].conditional
    if op.kind == "get":
        if not conditional:
            return []
        return [_header("If-None-Match", "ETags of copies the client has; a match answers 304.")]
    if op.route == "item" and op.writes and conditional:
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
    if op.route == "item" and op.writes and _ENTITIES[op.resource].conditional:
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
        tail = {"collection": "", "item": "/{id}", "members": "/{id}/" + _listed(op).path}[op.route]
        path = f"{PREFIX}/{{version}}/{op.resource.path}" + tail
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
            "title": "cartgroups: 3dcart CustomerGroups and Customers API",
            "version": __version__,
            "description": "The 3dcart (Shift4Shop) REST API CustomerGroups and Customers resources, "
            "byte for byte. "
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
