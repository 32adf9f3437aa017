"""The OpenAPI document: committed, current, served, and truthful about its own examples."""

from __future__ import annotations

import json

import httpx

from cartgroups.api import openapi
from tests.conftest import ROOT, LiveServer


def test_committed_openapi_json_is_current() -> None:
    committed = json.loads((ROOT / "openapi.json").read_text())
    assert committed == openapi.build(), (
        "openapi.json is stale: run `python -m cartgroups.api.openapi > openapi.json`"
    )


def test_every_operation_has_an_id_and_a_summary() -> None:
    doc = openapi.build()
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == 14  # 6 per resource, a group's members, healthz
    assert all(op["summary"] for item in doc["paths"].values() for op in item.values())


def test_served_document_matches_and_declares_the_three_headers(raw: httpx.Client) -> None:
    response = raw.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc == openapi.build()
    schemes = doc["components"]["securitySchemes"]
    assert {schemes[n]["name"] for n in ("SecureURL", "PrivateKey", "Token")} == {
        "SecureURL",
        "PrivateKey",
        "Token",
    }
    assert all(schemes[n]["in"] == "header" for n in ("SecureURL", "PrivateKey", "Token"))


def test_request_examples_are_accepted_by_the_server(api: httpx.Client) -> None:
    paths = openapi.build()["paths"]
    create = paths["/3dCartWebAPI/{version}/CustomerGroups"]["post"]["requestBody"]
    example = create["content"]["application/json"]["example"]
    assert api.post("/CustomerGroups", json=example).status_code == 201
    bulk = paths["/3dCartWebAPI/{version}/CustomerGroups"]["put"]["requestBody"]
    assert api.put("/CustomerGroups", json=bulk["content"]["application/json"]["example"]).status_code == 200
    got = api.get("/CustomerGroups/1").json()[0]
    out_example = paths["/3dCartWebAPI/{version}/CustomerGroups/{id}"]["get"]["responses"]["200"]
    assert got == out_example["content"]["application/json; charset=utf-8"]["example"][0]


def test_docs_page_works_offline(server: LiveServer, raw: httpx.Client) -> None:
    page = raw.get("/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    for src in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css", "/docs/static/init.js"):
        assert src in page.text
        asset = raw.get(src)
        assert asset.status_code == 200 and len(asset.content) > 30
    assert "http://" not in page.text and "https://" not in page.text
    assert raw.get("/docs/static/../../etc/passwd").status_code == 404


def test_healthz_reports_the_database(raw: httpx.Client) -> None:
    response = raw.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_customer_examples_are_accepted_and_written_by_the_server(api: httpx.Client) -> None:
    paths = openapi.build()["paths"]
    collection, item = "/3dCartWebAPI/{version}/Customers", "/3dCartWebAPI/{version}/Customers/{id}"
    create = paths[collection]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert api.post("/Customers", json=create).status_code == 201
    bulk = paths[collection]["put"]["requestBody"]["content"]["application/json"]["example"]
    assert api.put("/Customers", json=bulk).status_code == 200
    got = api.get("/Customers/1").json()[0]
    out_example = paths[item]["get"]["responses"]["200"]["content"]["application/json; charset=utf-8"][
        "example"
    ]
    assert got == out_example[0]
    assert "ETag" not in paths[item]["get"]["responses"]["200"].get("headers", {})


def test_the_customer_schema_follows_the_field_table() -> None:
    schemas = openapi.build()["components"]["schemas"]
    customer = schemas["Customer"]
    assert len(customer["properties"]) == len(customer["required"]) == 36
    assert customer["properties"]["Password"]["writeOnly"] is True
    assert customer["properties"]["TotalStoreCredit"]["readOnly"] is True
    assert customer["properties"]["BillingTaxID"] == {
        "description": "Tax or account number of the billing party.",
        "type": "string",
        "maxLength": 50,
        "nullable": True,
        "example": None,
    }
    assert "nullable" not in customer["properties"]["Email"]
    assert schemas["CustomerCreate"]["required"] == ["Email"]
    assert "TotalStoreCredit" not in schemas["CustomerCreate"]["properties"]
    assert schemas["CustomerList"]["xml"] == {"name": "ArrayOfCustomer", "wrapped": True}
    members = openapi.build()["paths"]["/3dCartWebAPI/{version}/CustomerGroups/{id}/Customers"]["get"]
    names = [p["name"] for p in members["parameters"]]
    assert names == [
        "version",
        "id",
        "limit",
        "offset",
        "countonly",
        "email",
        "firstname",
        "lastname",
        "country",
        "state",
        "city",
        "phone",
        "lastupdatestart",
        "lastupdateend",
        "$select",
        "$orderby",
    ]
    assert members["operationId"] == "listCustomerGroupMembers"
