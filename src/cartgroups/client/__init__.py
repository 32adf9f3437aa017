"""Python SDK for the 3dcart CustomerGroups REST API (3dcart itself or any cartgroups server).

    from cartgroups.client import Client
    with Client("http://127.0.0.1:8000", secure_url, private_key, token) as client:
        group_id = client.create(name="Wholesale", minimum_order=Decimal("250.00"))
        for group in client.iter_all():
            ...
        names = client.list(limit=50, select=["group_id", "name"], order_by="name")  # OData
        customer_id = client.customers.create(email="jane@example.com", customer_group_id=group_id)
        members = client.group_members(group_id)

``AsyncClient`` has the same methods, awaited. Retry, timeout and logging rules: see ``_core``.
"""

from cartgroups.client._core import DEFAULT_BASE_URL, OFFSET_EXCEEDED
from cartgroups.client.asyncio import AsyncClient
from cartgroups.client.customers import Customer
from cartgroups.client.errors import (
    BadRequest,
    CartgroupsAPIError,
    CartgroupsConnectionError,
    CartgroupsTimeout,
    ClientError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
)
from cartgroups.client.models import CustomerGroup, ItemResult, PartialCustomerGroup
from cartgroups.client.sync import Client

__all__ = [
    "DEFAULT_BASE_URL",
    "OFFSET_EXCEEDED",
    "AsyncClient",
    "BadRequest",
    "CartgroupsAPIError",
    "CartgroupsConnectionError",
    "CartgroupsTimeout",
    "Client",
    "ClientError",
    "Customer",
    "CustomerGroup",
    "ItemResult",
    "NotFound",
    "PartialCustomerGroup",
    "RateLimited",
    "ServerError",
    "Unauthorized",
]
