"""Dynamics 365 (Dataverse Web API): one request per lead over a pooled, guarded client.

Token: Azure AD client credentials, cached per (authority, application, scope) until
shortly before it expires (token_cache). Write: with an alternate key,
`PATCH leads(<attr>='<lead uuid>')`, an idempotent upsert, so a retry never duplicates;
without one, `POST leads`.

Why not `$batch`: it would save round trips only, at Partner Center's volumes (a few leads
per target per minute), while one request per lead keeps a 401 refresh, a 429's
Retry-After and an OData error tied to exactly one lead. A throttled or unreachable
instance stops the batch: the rest are answered retryable without being sent.
"""

import re
from dataclasses import dataclass, replace
from urllib.parse import quote

import httpx

from crm.connectors import http_client
from crm.connectors.base import (
    ConfigurationError,
    DeliveryPayload,
    Result,
    SendOptions,
    excerpt,
)
from crm.connectors.http_client import retry_after_seconds
from crm.connectors.oauth import (
    CallFailure,
    ClientCredentials,
    TokenConnector,
    TokenSession,
    check_urls,
)
from crm.connectors.ssrf import TargetRefused

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
LEADS_PATH = "/api/data/v9.2/leads"
APP_REGISTRATION_HINT = (
    "Dynamics 365 refused the token twice: check the app registration "
    "(application id, secret, application user and security role)"
)
ODATA_HEADERS = {
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "Content-Type": "application/json",
    "Accept": "application/json",
}
_ATTRIBUTE = re.compile(r"^[a-z_][a-z0-9_]{0,99}$")
_DIRECTORY = re.compile(r"^[A-Za-z0-9.-]{1,100}$")


@dataclass(frozen=True)
class DynamicsSettings:
    instance_url: str
    directory_id: str
    alternate_key: str
    authority_url: str
    credentials: ClientCredentials  # the app registration, for the instance's scope

    @property
    def token_url(self) -> str:
        return f"{self.authority_url}/{self.directory_id}/oauth2/v2.0/token"


def settings_from(config: dict) -> DynamicsSettings:
    """The target's config, checked; raises ConfigurationError with a readable reason."""
    missing = [
        key
        for key in ("instanceUrl", "directoryId", "applicationId", "applicationKey")
        if not str(config.get(key) or "").strip()
    ]
    if missing:
        raise ConfigurationError(f"Dynamics 365 target is missing {', '.join(missing)}")
    instance_url = str(config["instanceUrl"]).strip().rstrip("/")
    authority_url = str(config.get("authorityUrl") or DEFAULT_AUTHORITY).strip().rstrip("/")
    settings = DynamicsSettings(
        instance_url=instance_url,
        directory_id=str(config["directoryId"]).strip(),
        alternate_key=str(config.get("alternateKey") or "").strip(),
        authority_url=authority_url,
        credentials=ClientCredentials(
            authority=authority_url,
            client_id=str(config["applicationId"]).strip(),
            client_secret=str(config["applicationKey"]),
            scope=f"{instance_url}/.default",
        ),
    )
    if not _DIRECTORY.match(settings.directory_id):
        raise ConfigurationError("directoryId must be a tenant id (a GUID) or domain name")
    if settings.alternate_key and not _ATTRIBUTE.match(settings.alternate_key):
        raise ConfigurationError("alternateKey must be an attribute's logical name (a_z0_9)")
    return settings


def lead_body(payload: DeliveryPayload, alternate_key: str) -> dict:
    body = {
        "subject": f"{payload.offer_title} ({payload.action_code})",
        "firstname": payload.first_name,
        "lastname": payload.last_name,
        "emailaddress1": payload.email,
        "telephone1": payload.phone,
        "companyname": payload.company,
        "jobtitle": payload.title,
        "address1_country": payload.country,
        "description": payload.description,
    }
    body.update(payload.extra_fields)
    if alternate_key:  # the record's identity: a constant extra field never replaces it
        body[alternate_key] = payload.lead_id
    return body


def token_failure(response: httpx.Response) -> CallFailure:
    status = response.status_code
    if status in {400, 401}:
        try:
            answer = response.json()
            detail = str(answer.get("error_description") or answer.get("error") or "")
        except ValueError:
            detail = ""
        reason = detail.splitlines()[0] if detail else f"HTTP {status}"
        return CallFailure(
            "permanent",
            f"Azure AD refused the app credentials: {reason}",
            status_code=status,
        )
    if status == 429 or status >= 500:
        return CallFailure(
            "retryable",
            f"Azure AD token endpoint answered HTTP {status}",
            status_code=status,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    return CallFailure(
        "permanent", f"Azure AD token endpoint answered HTTP {status}", status_code=status
    )


def odata_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return excerpt(response.text, 300)


def write_result(payload: DeliveryPayload, response: httpx.Response) -> Result:
    status = response.status_code
    fields = {"status_code": status, "response_excerpt": excerpt(response.text)}
    if status in {200, 201, 204}:
        entity = response.headers.get("OData-EntityId", "")
        return Result(payload.delivery_id, "delivered", status_code=status, response_excerpt=entity)
    if status == 401:
        return Result(payload.delivery_id, "permanent", error=APP_REGISTRATION_HINT, **fields)
    if status in {408, 429} or status >= 500:
        return Result(
            payload.delivery_id,
            "retryable",
            error=f"Dynamics 365 answered HTTP {status}",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            **fields,
        )
    reason = odata_message(response) if 400 <= status < 500 else "check the instance URL"
    return Result(
        payload.delivery_id,
        "permanent",
        error=f"Dynamics 365 refused the lead (HTTP {status}): {reason}",
        **fields,
    )


class DynamicsSession(TokenSession[DynamicsSettings]):
    """One batch's calls: Azure AD's token, then one request per lead to the instance."""

    kind = "dynamics365"
    token_service = "Azure AD"

    def fetch_token(self) -> tuple[str, float]:
        form, endpoint = self.credentials.grant(), "the Azure AD token endpoint"
        response = self.request("POST", self.settings.token_url, endpoint, data=form)
        if response.status_code != 200:
            raise token_failure(response)
        return self.read_token(response)

    def write(self, payload: DeliveryPayload) -> Result:
        """Write one lead; raises CallFailure when no token could be had."""
        key_attr = self.settings.alternate_key
        if key_attr:
            method = "PATCH"
            key_value = quote(payload.lead_id.replace("'", "''"), safe="")  # an OData literal
            url = f"{self.settings.instance_url}{LEADS_PATH}({key_attr}='{key_value}')"
        else:
            method, url = "POST", f"{self.settings.instance_url}{LEADS_PATH}"
        body = lead_body(payload, key_attr)

        def write_once(token: str, may_refresh: bool) -> Result | None:
            headers = {**ODATA_HEADERS, "Authorization": f"Bearer {token}"}
            try:
                response = self.client(url).request(
                    method, url, json=body, headers=headers, timeout=self.timeout
                )
            except (httpx.HTTPError, httpx.InvalidURL, TargetRefused) as exc:
                return http_client.result_for_error(payload.delivery_id, exc)
            if response.status_code == 401 and may_refresh:
                return None
            return write_result(payload, response)

        return self.with_token(write_once)

    def send(self, payloads: list[DeliveryPayload]) -> list[Result]:
        results: list[Result] = []
        for index, payload in enumerate(payloads):
            try:
                result, stop = self.write(payload), False
            except CallFailure as failure:  # no token: the other leads would fare alike
                result, stop = failure.result_for(payload), True
            results.append(result)
            if stop or stops_batch(result):
                rest = payloads[index + 1 :]
                return results + [not_sent(result, later.delivery_id) for later in rest]
        return results


def stops_batch(result: Result) -> bool:
    """A throttled, unreachable or unauthorised instance: the other leads would fare alike."""
    return result.outcome == "retryable" or result.error.startswith(APP_REGISTRATION_HINT)


class Dynamics365Connector(TokenConnector):
    kind = "dynamics365"
    session_class = DynamicsSession

    def open(self, config: dict, options: SendOptions) -> DynamicsSession:
        settings = settings_from(config)
        check_urls((settings.instance_url, settings.authority_url), options)
        return self.session_class(settings, self.token_cache, options)


def not_sent(cause: Result, delivery_id: str) -> Result:
    return replace(
        cause,
        delivery_id=delivery_id,
        status_code=None,
        error=f"not sent: {cause.error}",
        response_excerpt="",
    )


connector = Dynamics365Connector()
