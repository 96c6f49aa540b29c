"""The HTTP API (django-ninja): storefront intake, Co-Sell referrals, the publisher API.

The OpenAPI document is generated at /api/v1/openapi.json, the docs at /api/v1/docs.
"""

import json
from typing import Any

from django.http import HttpRequest
from ninja import Body, Header, NinjaAPI, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.docs import Swagger
from ninja.security import HttpBearer
from pydantic import ValidationError as PydanticValidationError

from leads.intake import api_keys, payload_limits, referrals, transactions
from leads.intake import services as intake
from leads.intake.api_publisher import router as publisher_router
from leads.intake.schemas import (
    BulkAnswer,
    ErrorAnswer,
    IntakeAnswer,
    LeadPayload,
)
from leads.models import ApiKey
from portal import throttling

MAX_BULK_ITEMS = 1000

api = NinjaAPI(
    title="Lead Portal API",
    version="1",
    description=(
        "Storefront intake of marketplace leads (Partner Center's lead JSON), Co-Sell "
        "referrals, and the publisher API."
    ),
    urls_namespace="api",
    docs_url="/docs",
    # Swagger UI from our own static files ("ninja" is in INSTALLED_APPS), started by its
    # external init script, so the docs pass the CSP; no call to the online validator.
    docs=Swagger(settings={"validatorUrl": None}),
    openapi_url="/openapi.json",
)


class ApiKeyBearer(HttpBearer):
    """`Authorization: Bearer <key>`, an API key of the subclass's `kind`."""

    openapi_scheme = "bearer"
    kind: ApiKey.Kind

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return api_keys.api_key_authenticate(
            key=token, kind=self.kind, client_address=throttling.throttle_address(request)
        )


class StorefrontKey(ApiKeyBearer):
    """`Authorization: Bearer <storefront key>`, created by `create_storefront_key`."""

    kind = ApiKey.Kind.STOREFRONT


# --- Errors: one shape everywhere, {"detail": [{loc, msg, type}]} or {"detail": "…"} -----


def _clean_loc(loc) -> list:
    """ninja puts the parameter name after "body"; a client knows only its JSON keys."""
    loc = list(loc)
    if len(loc) >= 2 and loc[0] == "body" and loc[1] in {"payload", "items"}:
        loc = ["body", *loc[2:]]
    return loc


def field_errors(errors) -> list[dict]:
    return [
        {
            "loc": _clean_loc(e.get("loc", [])),
            "msg": str(e.get("msg", "")),
            "type": e.get("type", ""),
        }
        for e in errors
    ]


# A query parameter that parses but names a moment PostgreSQL cannot hold is a bad request.
QUERY_RANGE_ERRORS = {"datetime_offset_range", "datetime_range"}


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    errors = field_errors(exc.errors)
    if any(e["type"] in {"json_invalid", "parse_error"} for e in errors):
        return api.create_response(request, {"detail": "Malformed JSON body."}, status=400)
    for error in errors:
        if error["loc"][:1] == ["query"] and error["type"] in QUERY_RANGE_ERRORS:
            detail = f"Query parameter {error['loc'][-1]}: {error['msg']}"
            return api.create_response(request, {"detail": detail}, status=400)
    return api.create_response(request, {"detail": errors}, status=422)


@api.exception_handler(transactions.IntakeBusyError)
def _intake_busy(request, exc):
    """Lock conflicts outlasted intake's own retries (leads.intake.transactions.run_atomic): 503."""
    response = api.create_response(
        request, {"detail": "Intake is busy; retry this request shortly."}, status=503
    )
    response["Retry-After"] = "1"
    return response


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    detail = str(exc)
    if isinstance(exc.__cause__, RecursionError):
        # ninja's parser gave up on a body nested thousands of levels deep.
        detail = (
            f"The JSON body is nested too deeply: a lead may be nested at most "
            f"{payload_limits.MAX_DEPTH} levels."
        )
    return api.create_response(request, {"detail": detail}, status=exc.status_code)


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return api.create_response(
        request, {"detail": "Missing or invalid API key (Authorization: Bearer …)."}, status=401
    )


@api.exception_handler(api_keys.AuthThrottled)
def _auth_throttled(request, exc: api_keys.AuthThrottled):
    """Too many failed authentications from this address (leads.intake.api_keys): 429."""
    response = api.create_response(
        request,
        {"detail": "Too many failed authentications from this address; retry later."},
        status=429,
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


# --- Storefront intake ---------------------------------------------------------------------


def _raw_json(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body)
    except ValueError:
        return {}


def _raw_refusal(raw: Any, loc_prefix: list) -> list[dict]:
    """The field errors of a lead's raw JSON (leads.intake.payload_limits), under loc_prefix."""
    errors = payload_limits.raw_payload_errors(raw)
    return [{**error, "loc": [*loc_prefix, *error["loc"]]} for error in errors]


# What the intake endpoints may answer besides success, in the order OpenAPI lists them.
INTAKE_ERRORS = dict.fromkeys((400, 401, 413, 422, 429, 503), ErrorAnswer)


@api.post(
    "/leads",
    auth=StorefrontKey(),
    response={201: IntakeAnswer, 200: IntakeAnswer, **INTAKE_ERRORS},
    summary="Post one storefront lead",
    tags=["intake"],
)
def post_lead(
    request: HttpRequest,
    payload: LeadPayload,
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", max_length=200, description="Used when LeadId is absent."
    ),
):
    """Partner Center's lead JSON, keys matched case-insensitively. 201 for a new activity,
    200 with the first answer when the same LeadId (or Idempotency-Key) comes again."""
    raw = _raw_json(request)
    errors = _raw_refusal(raw, ["body"])
    problem = idempotency_key and payload_limits.text_problem(idempotency_key)
    if problem:
        kind, msg = problem
        errors.append({"loc": ["header", "Idempotency-Key"], "msg": msg, "type": kind})
    if errors:
        return Status(422, {"detail": errors})
    item = intake.IntakeItem(payload=payload, raw=raw, idempotency_key=idempotency_key)
    (outcome,) = intake.leads_ingest(storefront=request.auth.storefront, items=[item])
    if outcome.errors:
        return Status(422, {"detail": outcome.errors})
    return Status(outcome.status_code, outcome.answer)


@api.post(
    "/leads/bulk",
    auth=StorefrontKey(),
    response={200: BulkAnswer, **INTAKE_ERRORS},
    summary="Post up to 1,000 storefront leads",
    tags=["intake"],
)
def post_leads_bulk(
    request: HttpRequest,
    items: list[dict[str, Any]] = Body(..., min_length=1, max_length=MAX_BULK_ITEMS),
):
    """A JSON array of leads. Each item gets its own result, in order: a bad item is
    refused (422 in its result) without sinking the others."""
    results: list[dict | None] = [None] * len(items)
    accepted: list[intake.IntakeItem] = []
    positions: list[int] = []
    for index, raw in enumerate(items):
        refused = _raw_refusal(raw, ["body", index])
        if refused:
            results[index] = {"index": index, "status_code": 422, "errors": refused}
            continue
        try:
            payload = LeadPayload.model_validate(raw)
        except PydanticValidationError as exc:
            errors = field_errors(exc.errors(include_url=False, include_context=False))
            for error in errors:
                error["loc"] = ["body", index, *error["loc"]]
            results[index] = {"index": index, "status_code": 422, "errors": errors}
            continue
        accepted.append(intake.IntakeItem(payload=payload, raw=raw))
        positions.append(index)

    outcomes = intake.leads_ingest(storefront=request.auth.storefront, items=accepted)
    for index, outcome in zip(positions, outcomes, strict=True):
        results[index] = {
            "index": index,
            "status_code": outcome.status_code,
            "result": outcome.answer,
            "errors": [{**e, "loc": ["body", index, *e["loc"][1:]]} for e in outcome.errors or []]
            or None,
        }
    codes = [result["status_code"] for result in results]
    return Status(
        200,
        {
            "created": codes.count(201),
            "replayed": codes.count(200),
            "failed": codes.count(422),
            "results": results,
        },
    )


api.add_router("/publisher", publisher_router)


# --- Co-Sell referrals ---------------------------------------------------------------------


class MicrosoftSellerKey(ApiKeyBearer):
    """`Authorization: Bearer <key>` from `create_storefront_key --microsoft-seller`."""

    kind = ApiKey.Kind.MICROSOFT_SELLER


@api.post(
    "/referrals",
    auth=MicrosoftSellerKey(),
    response={201: IntakeAnswer, 200: IntakeAnswer, **INTAKE_ERRORS},
    summary="Post a Co-Sell referral",
    tags=["co-sell"],
)
def post_referral(request: HttpRequest, payload: referrals.ReferralPayload):
    """A lead a Microsoft seller qualified, for a Co-Sell enrolled publisher's offer. It is
    qualified on arrival, never scored, and never merged with marketplace leads."""
    raw = _raw_json(request)
    errors = _raw_refusal(raw, ["body"])
    if errors:
        return Status(422, {"detail": errors})
    outcome = referrals.referral_ingest(payload=payload, raw=raw)
    if outcome.errors:
        return Status(422, {"detail": outcome.errors})
    return Status(outcome.status_code, outcome.answer)
