"""The HTTP answer carrying a client document, for the API, the portal and the back office."""

from __future__ import annotations

from django.core.files import File
from django.http import FileResponse

from apps.kyc.models import KycDocument


def document_response(handle: File, document: KycDocument, *, inline: bool = True) -> FileResponse:
    """Stream an opened document: its checked content type, never cached, never sniffed."""
    response = FileResponse(
        handle,
        content_type=document.content_type,
        as_attachment=not inline,
        filename=document.original_name or f"document-{document.pk}",
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    return response
