"""Dynamics 365 erasure: read the lead's state, then delete it, never a converted one.

Each record is addressed as the deliveries wrote it: by the alternate key
(`leads(<attr>='<lead uuid>')`), or by the lead id that Dataverse answered in
OData-EntityId when the target posted without a key. For each address:
1. `GET …?$select=statecode,statuscode`: 404 means it is already gone; statecode 1
   (Qualified) means the lead was converted to a contact, account or opportunity, and
   deleting it would break that history, so it is left alone ("converted");
2. `DELETE …`: 204 deleted; 404 gone meanwhile (absent).
A 401 refreshes the token once; 408, 429 and 5xx are retryable (Retry-After honoured),
any other answer is a permanent failure naming Dataverse's message.
"""

import re
from urllib.parse import quote

import httpx

from crm.connectors.base import ErasureRequest, Result, excerpt
from crm.connectors.dynamics365 import (
    APP_REGISTRATION_HINT,
    LEADS_PATH,
    ODATA_HEADERS,
    Dynamics365Connector,
    DynamicsSession,
    odata_message,
)
from crm.connectors.http_client import retry_after_seconds
from crm.connectors.oauth import CallFailure

QUALIFIED = 1  # lead statecode: 0 Open, 1 Qualified (converted), 2 Disqualified
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_READ_HEADERS = {key: value for key, value in ODATA_HEADERS.items() if key != "Content-Type"}


def record_paths(lookup: dict) -> list[str]:
    """The record's addresses under the instance: by alternate key, then by lead id."""
    paths = []
    attribute, value = lookup.get("alternate_key"), lookup.get("key_value")
    if attribute and value:
        literal = quote(str(value).replace("'", "''"), safe="")  # an OData string literal
        paths.append(f"{LEADS_PATH}({attribute}='{literal}')")
    paths += [f"{LEADS_PATH}({guid})" for guid in lookup.get("entity_ids", []) if _GUID.match(guid)]
    return paths


def entity_id_from(entity_url: str) -> str:
    """The lead id in an OData-EntityId URL (`…/leads(<guid>)`), or ""."""
    found = re.search(r"/leads\(([0-9a-fA-F-]{36})\)$", entity_url.strip())
    return found.group(1) if found else ""


class EraseSession(DynamicsSession):
    def call(self, method: str, path: str, *, params: dict | None = None) -> httpx.Response:
        """One authorised call; 200, 204 and 404 are answers, the rest raise CallFailure."""
        url = f"{self.settings.instance_url}{path}"

        def once(token: str, may_refresh: bool) -> httpx.Response | None:
            headers = {**_READ_HEADERS, "Authorization": f"Bearer {token}"}
            response = self.request(method, url, "Dynamics 365", params=params, headers=headers)
            if response.status_code == 401 and may_refresh:
                return None
            return response

        response = self.with_token(once)
        status = response.status_code
        if status in {200, 204, 404}:
            return response
        fields = {"status_code": status, "response_excerpt": excerpt(response.text)}
        if status == 401:
            raise CallFailure("permanent", APP_REGISTRATION_HINT, **fields)
        if status in {408, 429} or status >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            error = f"Dynamics 365 answered HTTP {status}"
            raise CallFailure("retryable", error, retry_after=retry_after, **fields)
        error = f"Dynamics 365 refused the erasure (HTTP {status}): {odata_message(response)}"
        raise CallFailure("permanent", error, **fields)

    def erase_one(self, request: ErasureRequest) -> Result:
        paths = record_paths(request.lookup)
        if not paths:  # nothing identifies the record: a person must look for it
            return Result(request.delivery_id, "delivered", erasure="unidentified")
        effect = "absent"
        for path in paths:
            state = self.call("GET", path, params={"$select": "statecode,statuscode"})
            if state.status_code == 404:
                continue
            if _statecode(state) == QUALIFIED:
                return Result(request.delivery_id, "delivered", 200, erasure="converted")
            deleted = self.call("DELETE", path)
            effect = "deleted" if deleted.status_code == 204 else effect
        return Result(request.delivery_id, "delivered", 204, erasure=effect)

    def erase(self, requests: list[ErasureRequest]) -> list[Result]:
        results: list[Result] = []
        for index, request in enumerate(requests):
            try:
                results.append(self.erase_one(request))
            except CallFailure as failure:  # the others would meet the same instance
                return results + failure.results_for(requests[index:])
        return results


def _statecode(response: httpx.Response) -> int | None:
    try:
        return int(response.json()["statecode"])
    except (ValueError, KeyError, TypeError):
        return None


class Dynamics365Eraser(Dynamics365Connector):
    session_class = EraseSession


eraser = Dynamics365Eraser()
