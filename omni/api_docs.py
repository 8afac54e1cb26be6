"""Who may read the OpenAPI schema and its docs: anyone in the embedded default (DEBUG on), else staff signed in to
the admin and API keys (omni.urls gives these views the session and API-key authentications). The schema names every
operation and field of the brand's systems' API, so production keeps it to those who call it or run it.

Apart from omni.openapi: drf_spectacular's views import DRF's views, which load omni.openapi's AutoSchema.
"""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework import exceptions, permissions


def api_docs_public() -> bool:
    """OMNI_API_DOCS_PUBLIC, or when unset whether DEBUG is on now (tests run with it off, as production)."""
    public = settings.OMNI_API_DOCS_PUBLIC
    return settings.DEBUG if public is None else public


class ApiDocsReaders(permissions.BasePermission):
    """The schema names every operation and field: in production, for staff signed in to the admin and API keys."""

    message = "The API schema is for staff signed in to the admin, or for an API key."

    def has_permission(self, request, view) -> bool:
        if api_docs_public() or request.auth is not None:  # request.auth: the API key (customers.apis)
            return True
        user = request.user
        return bool(user is not None and user.is_active and user.is_staff)


class _SignInFirst:
    """A docs page refused sends the browser to the admin's sign-in, and back here after it."""

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.PermissionDenied):
            return redirect_to_login(self.request.get_full_path(), reverse("admin:login"))
        return super().handle_exception(exc)


class ApiDocsView(_SignInFirst, SpectacularSwaggerView):
    pass


class ApiRedocView(_SignInFirst, SpectacularRedocView):
    pass
