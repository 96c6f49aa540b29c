"""An azure-core transport that sends through the connectors' SSRF-guarded httpx client.

azure-data-tables would otherwise send with its own `requests` transport: it resolves the
host again itself (so a name checked as public can rebind to loopback) and its
RedirectPolicy follows a 3xx, even to an internal http:// address. `GuardedTransport`
replaces that transport, so every request the SDK makes goes through
`http_client.request`:
- the host is resolved once, refused if any address is not public, and the socket opens to
  a checked address (`ssrf.GuardedBackend`);
- redirects are not followed, proxy variables are ignored, timeouts are SendOptions';
- at most 1 MiB of an answer is read (a 100-entity transaction answers about 40 KiB); a
  longer answer is an error, never a truncated body handed to the SDK's parser.

The connector also turns the SDK's RedirectPolicy off (`permit_redirects=False`), so a
3xx reaches it as an answer, which it records as a permanent failure.

An address the guard refuses raises `ssrf.TargetRefused` out of the SDK unchanged (it is
not an AzureError, so no policy retries it); the connector reports it as permanent.
"""

from collections.abc import Iterator

import httpx
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

from crm.connectors import http_client
from crm.connectors.base import ConfigurationError, SendOptions

KIND = "azure-table"
MAX_ANSWER_BYTES = 1024 * 1024
# httpx sets these from the body it sends; a caller's copy could disagree with it.
_HEADERS_HTTPX_SETS = frozenset({"content-length", "transfer-encoding", "host"})


class GuardedResponse(HttpResponseImpl):
    """An azure-core response whose body was already read (and capped) by httpx."""

    def __init__(self, *, request: HttpRequest, reply: http_client.Reply) -> None:
        headers = case_insensitive_dict(reply.headers.items())
        super().__init__(
            request=request,
            internal_response=reply,
            status_code=reply.status_code,
            reason=reply.reason,
            content_type=headers.get("content-type"),
            headers=headers,
            stream_download_generator=_already_read,
        )
        self._content = reply.content

    def close(self) -> None:
        self._is_closed = True  # the httpx stream closed when the body was read


def _already_read(pipeline, response: GuardedResponse, **kwargs) -> Iterator[bytes]:
    # Only reached for a stream download; the body is in memory already.
    yield response.content


class GuardedTransport(HttpTransport):
    """Sends an azure-core `rest.HttpRequest` with the connectors' guarded client."""

    def __init__(self, options: SendOptions) -> None:
        self.options = options

    def __enter__(self) -> "GuardedTransport":
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def open(self) -> None:
        pass  # the pooled clients belong to http_client, which opens them on demand

    def close(self) -> None:
        pass

    def send(self, request: HttpRequest, **kwargs) -> GuardedResponse:
        """Send the request; timeouts, proxies and TLS come from our client, so the
        per-call keywords (connection_timeout, read_timeout, stream, ...) are ignored."""
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in _HEADERS_HTTPX_SETS
        }
        headers.setdefault("Accept-Encoding", "identity")  # the body goes to the SDK as is
        try:
            reply = http_client.request(
                kind=KIND,
                method=request.method,
                url=request.url,
                content=_body(request),
                headers=headers,
                options=self.options,
                max_body_bytes=MAX_ANSWER_BYTES,
            )
        except httpx.ConnectTimeout as exc:
            raise ServiceRequestTimeoutError("timed out connecting", error=exc) from exc
        except (httpx.ConnectError, httpx.PoolTimeout) as exc:
            error = f"could not connect: {http_client.connect_failure(exc)}"
            raise ServiceRequestError(error, error=exc) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ConfigurationError(f"the table endpoint cannot be used ({exc})") from exc
        except httpx.ReadTimeout as exc:
            raise ServiceResponseTimeoutError("timed out waiting for the answer") from exc
        except httpx.HTTPError as exc:
            raise ServiceResponseError(f"the connection failed ({type(exc).__name__})") from exc
        if reply.is_truncated:
            raise ServiceResponseError(
                f"the answer was longer than {MAX_ANSWER_BYTES} bytes: not read"
            )
        return GuardedResponse(request=request, reply=reply)


def _body(request: HttpRequest) -> bytes | None:
    """The request's body as bytes (the pipeline has already serialised a multipart one)."""
    if request.files:
        raise ConfigurationError("file uploads are not supported by this transport")
    data = request.data
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    raise ConfigurationError(f"unsupported request body ({type(data).__name__})")
