"""Error pages: JSON envelopes under /api/, templates for the portal."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from apps.core import context
from apps.core.api.exception_handler import envelope
from apps.core.errors import ErrorCode


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(envelope(ErrorCode.NOT_FOUND, "Not found."), status=404)
    return render(request, "404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        message = "You do not have permission to do this."
        return JsonResponse(envelope(ErrorCode.PERMISSION_DENIED, message), status=403)
    return render(request, "403.html", status=403)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(envelope(ErrorCode.INVALID, "Bad request."), status=400)
    return render(request, "400.html", status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        body = envelope(
            ErrorCode.SERVER_ERROR,
            "An internal error occurred; it has been logged.",
            {"request_id": context.correlation_id()},
        )
        return JsonResponse(body, status=500)
    return render(request, "500.html", status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_api(request):
        message = "CSRF verification failed; send the X-CSRFToken header with the session."
        return JsonResponse(envelope(ErrorCode.PERMISSION_DENIED, message), status=403)
    return render(request, "403_csrf.html", {"reason": reason}, status=403)
