"""Body size limits for the API, enforced before anything reads the body.

Django turns an oversized body into a 400 (RequestDataTooBig), and only when a
Content-Length says so. The intake contract wants 413, with or without a
Content-Length (a chunked upload has none), so this middleware runs first: it trusts
a declared length, and otherwise reads at most one byte past the limit.
"""

import io

from django.core.handlers.wsgi import LimitedStream
from django.http import JsonResponse

SINGLE_LIMIT = 64 * 1024
BULK_LIMIT = 2 * 1024 * 1024  # 1,000 leads; stays under DATA_UPLOAD_MAX_MEMORY_SIZE
BULK_PATHS = ("/api/v1/leads/bulk",)


def body_limit_for(path: str) -> int | None:
    if not path.startswith("/api/"):
        return None
    return BULK_LIMIT if path.rstrip("/") in BULK_PATHS else SINGLE_LIMIT


def too_large(limit: int) -> JsonResponse:
    return JsonResponse(
        {"detail": f"The request body is larger than {limit // 1024} KiB."}, status=413
    )


class ApiBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = body_limit_for(request.path)
        if limit is None or request.method in {"GET", "HEAD", "OPTIONS"}:
            return self.get_response(request)
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                if int(declared) > limit:
                    return too_large(limit)
            except ValueError:
                return JsonResponse({"detail": "Invalid Content-Length."}, status=400)
            return self.get_response(request)
        # No length declared (chunked): read up to the limit plus one byte, no further.
        stream = request.META.get("wsgi.input")
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            return too_large(limit)
        request.META["CONTENT_LENGTH"] = str(len(body))
        request._stream = LimitedStream(io.BytesIO(body), len(body))
        return self.get_response(request)
