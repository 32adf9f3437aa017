"""``cartgroups serve --price-level-1-to-10`` (and CARTGROUPS_PRICE_LEVEL_1_TO_10) as real processes:
the setting reaches every worker; without it, any 32-bit level is stored (issue #17, item 1)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.cli.procs import Served, api_headers, serving

API = "/3dCartWebAPI/v1/CustomerGroups"
UI_LEVEL_RULE = "PriceLevel must be an integer from 1 to 10"


def _client(served: Served, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=served.base_url + API, headers=headers, timeout=30)


def _levels(client: httpx.Client) -> list[int]:
    return [g["PriceLevel"] for g in client.get("", params={"limit": 500}).json()]


def test_the_flag_reaches_every_worker(empty_database_url: str, tmp_path: Path) -> None:
    args = ("--price-level-1-to-10", "--workers", "2")
    headers = api_headers(empty_database_url)
    with serving(*args, database_url=empty_database_url, cwd=tmp_path) as served:
        served.wait_for(served.out, lambda line: "with 2 worker(s)" in line)
        served.wait_for(
            served.out, lambda line: line == "PriceLevel: only 1 to 10 accepted (--price-level-1-to-10)"
        )
        with _client(served, headers) as client:
            for _ in range(6):  # new connections, spread over both workers
                with _client(served, headers) as fresh:
                    refused = fresh.post("", json={"Name": "x", "PriceLevel": 0})
                    assert refused.status_code == 400
                    assert refused.json()[0]["Message"] == UI_LEVEL_RULE
                    assert fresh.post("", json={"Name": "absent"}).status_code == 201
            assert _levels(client) == [1] * 6


def test_by_default_and_with_the_variable(empty_database_url: str, tmp_path: Path) -> None:
    headers = api_headers(empty_database_url)
    with serving(database_url=empty_database_url, cwd=tmp_path) as served:
        assert "PriceLevel" not in served.stdout
        with _client(served, headers) as client:
            assert client.post("", json={"Name": "absent"}).status_code == 201
            assert client.post("", json={"Name": "seed", "PriceLevel": -48512740}).status_code == 201
            assert _levels(client) == [0, -48512740]
    env = {"CARTGROUPS_PRICE_LEVEL_1_TO_10": "true"}
    with (
        serving(database_url=empty_database_url, cwd=tmp_path, **env) as served,
        _client(served, headers) as client,
    ):
        assert client.put("/1", json={"PriceLevel": 11}).json()[0]["Message"] == UI_LEVEL_RULE
        assert client.put("/1", json={"PriceLevel": 10}).status_code == 200
        assert _levels(client) == [10, -48512740]  # stored levels stay as they are
