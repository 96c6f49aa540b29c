"""Azure Table: Partner Center's legacy entity, upserted, in transactions of 100.

The table (`MarketplaceLeads` by default) is created when it is missing. Each lead is an
entity whose PartitionKey is the publisher id and RowKey the delivery id, upserted with
UpdateMode.REPLACE: a retry rewrites the same entity and never duplicates it. The legacy
columns keep Partner Center's shape (CustomerInfo is the UserDetails as a compact JSON
string); the flattened contact columns, score, status, storefront and event are additive.

A transaction is all or nothing: when one entity is refused (a 4xx naming its index),
that lead is permanent and the others are submitted again without it.

SSRF: the SDK sends through `azure_transport.GuardedTransport` (our guarded httpx client:
resolve once, connect to the checked address, no redirects), with its RedirectPolicy off,
so a 3xx is a permanent failure. `check_connection_string` is the save-time check of
every endpoint a connection string names or implies.
"""

import json
import re
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.utils import parse_connection_string
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode

from crm.connectors import ssrf
from crm.connectors.azure_transport import GuardedTransport
from crm.connectors.base import (
    ConfigurationError,
    DeliveryPayload,
    Result,
    SendOptions,
    excerpt,
    user_details,
)
from crm.connectors.http_client import phrase

DEFAULT_TABLE = "MarketplaceLeads"
MAX_OPERATIONS = 100  # per transaction, all in one partition
IDENTITY_COLUMNS = ("PartitionKey", "RowKey")
RETRYABLE_STATUSES = {408, 429, 500, 502, 503, 504}
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")


def settings_from(config: dict) -> tuple[str, str]:
    """(connection string, table name), checked; raises ConfigurationError."""
    connection = str(config.get("storageAccountConnectionString") or "").strip()
    if not connection:
        raise ConfigurationError("Azure Table target is missing storageAccountConnectionString")
    table_name = str(config.get("tableName") or DEFAULT_TABLE).strip()
    if not _TABLE_NAME.match(table_name):
        raise ConfigurationError(
            "tableName must be 3 to 63 letters and digits, starting with a letter"
        )
    return connection, table_name


def entity_for(payload: DeliveryPayload) -> dict:
    customer = user_details(payload)
    entity = {
        "PartitionKey": payload.publisher_id,
        "RowKey": payload.delivery_id,
        "ProductId": payload.offer_id,
        "CustomerInfo": json.dumps(customer, separators=(",", ":"), ensure_ascii=False),
        "LeadSource": payload.lead_source,
        "ActionCode": payload.action_code,
        "PublisherDisplayName": payload.publisher_name,
        "OfferDisplayName": payload.offer_title,
        "CreatedTime": payload.created_at,
        "Description": payload.description,
        **customer,
        "Score": payload.score,
        "Status": payload.status,
        "Storefront": payload.storefront,
        "Event": payload.event,
    }
    for name, value in payload.extra_fields.items():
        if value is not None:  # a table has no null: the column is simply absent
            entity[name] = (
                value if isinstance(value, str | int | float | bool) else json.dumps(value)
            )
    # The entity's identity: a constant extra field never replaces it.
    entity.update(PartitionKey=payload.publisher_id, RowKey=payload.delivery_id)
    return entity


def partition_groups(payloads: list[DeliveryPayload]) -> list[list[DeliveryPayload]]:
    """Groups of at most 100 leads of one publisher each, in order of first appearance."""
    partitions: dict[str, list[DeliveryPayload]] = {}
    for payload in payloads:
        partitions.setdefault(payload.publisher_id, []).append(payload)
    return [
        group[start : start + MAX_OPERATIONS]
        for group in partitions.values()
        for start in range(0, len(group), MAX_OPERATIONS)
    ]


def error_code(exc: HttpResponseError) -> str:
    code = exc.error_code or exc.reason or exc.status_code or "error"
    return str(getattr(code, "value", code))  # TableErrorCode is an enum


def failure_result(delivery_id: str, exc: Exception) -> Result:
    """A storage or transport failure as this lead's Result."""
    if isinstance(exc, ClientAuthenticationError) or (
        isinstance(exc, HttpResponseError) and exc.status_code in {401, 403}
    ):
        # Azure says AuthenticationFailed, Azurite AuthorizationFailure: a key or SAS problem.
        error = (
            f"the storage account refused the credentials ({error_code(exc)}): "
            "check the connection string's account key"
        )
        return Result(delivery_id, "permanent", exc.status_code, error=error)
    if isinstance(exc, HttpResponseError) and exc.status_code and 300 <= exc.status_code < 400:
        status = exc.status_code
        error = f"{status} {phrase(status)}: redirect refused (redirects are never followed)"
        return Result(delivery_id, "permanent", status, error=error)
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        outcome = "retryable" if status is None or status in RETRYABLE_STATUSES else "permanent"
        message = exc.message.splitlines()[0] if exc.message else ""
        message = re.sub(r"^\d+:", "", message)  # a transaction's "<index>:" prefix
        error = f"Azure Table answered HTTP {status}: {error_code(exc)}: {message}"
        return Result(delivery_id, outcome, status, error=excerpt(error, 500))
    if isinstance(exc, ServiceResponseTimeoutError):
        error = "Azure Table did not answer in time; the lead may have been written"
        return Result(delivery_id, "retryable", error=error)
    if isinstance(exc, ServiceResponseError):
        error = f"Azure Table's answer failed ({exc.message}); the lead may have been written"
        return Result(delivery_id, "retryable", error=excerpt(error, 500))
    if isinstance(exc, ServiceRequestError):
        error = f"could not reach Azure Table ({type(exc).__name__}); nothing was sent"
        return Result(delivery_id, "retryable", error=error)
    return Result(delivery_id, "retryable", error=f"Azure Table failed ({type(exc).__name__})")


def submit_group(table: TableClient, group: list[DeliveryPayload], results: dict) -> None:
    """Upsert one partition's group as a transaction; a refused entity is left out."""
    pending = list(group)
    while pending:
        operations = [("upsert", entity_for(p), {"mode": UpdateMode.REPLACE}) for p in pending]
        try:
            table.submit_transaction(operations)
        except TableTransactionError as exc:
            refused_one = exc.status_code is not None and exc.status_code < 500
            if not refused_one or exc.status_code in RETRYABLE_STATUSES:
                raise
            if not 0 <= exc.index < len(pending):
                raise
            refused = pending.pop(exc.index)
            results[refused.delivery_id] = failure_result(refused.delivery_id, exc)
            continue  # the transaction rolled back: the others go again without it
        for payload in pending:
            results[payload.delivery_id] = Result(payload.delivery_id, "delivered", 204)
        return


def service_for(connection: str, options: SendOptions) -> TableServiceClient:
    """The SDK's client, sending through the guarded transport with redirects off; the
    endpoint's scheme is checked here, its addresses at every connection."""
    try:
        service = TableServiceClient.from_connection_string(
            connection,
            transport=GuardedTransport(options),
            permit_redirects=False,
            retry_total=0,  # the delivery engine retries, with backoff, over days
        )
    except ValueError:
        # The message could quote the connection string, which holds the key.
        raise ConfigurationError("the storage account connection string is not valid") from None
    refusal = ssrf.scheme_refusal(service.scheme.lower(), _policy(options))
    if refusal:
        raise ssrf.TargetRefused(f"the table endpoint is refused: {refusal}")
    return service


def _policy(options: SendOptions) -> ssrf.GuardPolicy:
    return ssrf.GuardPolicy(options.allow_private_targets, options.require_https)


def connection_endpoints(connection: str) -> list[str]:
    """Every endpoint URL a connection string names (TableEndpoint, BlobEndpoint, ...) or
    implies (AccountName + EndpointSuffix; UseDevelopmentStorage), the table's first."""
    try:
        service = TableServiceClient.from_connection_string(connection)  # parses only
        named = parse_connection_string(connection, case_sensitive_keys=False)
    except ValueError:
        raise ConfigurationError("the storage account connection string is not valid") from None
    endpoints = [service.url.split("?", 1)[0]]  # a SAS query string is a secret
    endpoints += [value for key, value in named.items() if key.endswith("endpoint") and value]
    by_origin: dict[tuple, str] = {}
    for url in endpoints:
        by_origin.setdefault(_origin(url), url)
    return list(by_origin.values())


def _origin(url: str) -> tuple:
    """(scheme, host, port) of a URL, so that one origin is checked (resolved) once."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return (scheme, parts.hostname, parts.port or {"https": 443, "http": 80}.get(scheme))
    except ValueError:
        return (url,)  # check_url explains what is wrong with it


def check_connection_string(connection: str, policy: ssrf.GuardPolicy) -> None:
    """Save-time check of every endpoint of a connection string, like `ssrf.check_url`;
    raises ConfigurationError or ssrf.TargetRefused. A name that does not resolve passes:
    DNS may recover, and the connect-time check decides then."""
    for endpoint in connection_endpoints(connection):
        try:
            ssrf.check_url(endpoint, policy)
        except ssrf.HostNotFound:
            continue


class AzureTableConnector:
    kind = "azure-table"

    def send(
        self, config: dict, payloads: list[DeliveryPayload], options: SendOptions
    ) -> list[Result]:
        if not payloads:
            return []
        connection, table_name = settings_from(config)
        results: dict[str, Result] = {}
        try:
            with service_for(connection, options) as service:
                table = service.create_table_if_not_exists(table_name)
                for group in partition_groups(payloads):
                    submit_group(table, group, results)
        except (AzureError, ValueError, ConfigurationError) as exc:
            # ValueError: a connection string whose key is not base64. ConfigurationError:
            # a malformed string, or the SSRF guard refused the endpoint (TargetRefused).
            failure = failure_for_batch(exc)
            for payload in payloads:
                results.setdefault(payload.delivery_id, failure(payload.delivery_id))
        return [results[payload.delivery_id] for payload in payloads]


def failure_for_batch(exc: Exception):
    if isinstance(exc, ConfigurationError):
        return lambda delivery_id: Result(delivery_id, "permanent", error=str(exc))
    if isinstance(exc, ValueError):
        error = "the storage account key in the connection string is not valid"
        return lambda delivery_id: Result(delivery_id, "permanent", error=error)
    return lambda delivery_id: failure_result(delivery_id, exc)


connector = AzureTableConnector()
