"""What every sidebar JSON view shares: the associate's session as DRF authentication, the customer the associate
may see (404 otherwise, exactly like one that does not exist), and the JSON shapes of money and moments."""

from datetime import datetime
from decimal import Decimal

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from associates.auth import session_associate
from associates.models import Associate
from clientbook.profile import CustomerHead, customer_head
from clientbook.selectors import customers_visible
from customers.models import Customer


class AssociateSessionAuthentication(SessionAuthentication):
    """The associate signed in through WeCom OAuth; writes need the CSRF token, as for any session."""

    def authenticate(self, request):
        associate = session_associate(request._request.session)
        if associate is None:
            return None
        self.enforce_csrf(request)
        return associate, None

    def authenticate_header(self, request):
        return "WeComOAuth"


class AssociateSessionScheme(OpenApiAuthenticationExtension):
    target_class = AssociateSessionAuthentication
    name = "WeComOAuthSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "Session of an associate signed in through WeCom OAuth (/wecom/oauth/start/)",
        }


class IsAssociate(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, Associate)


class SidebarApi(APIView):
    authentication_classes = [AssociateSessionAuthentication]
    permission_classes = [IsAssociate]

    def customer(self, request, customer_id: int) -> Customer:
        """The customer if this associate may see them, else 404 (as for one that does not exist)."""
        return get_object_or_404(customers_visible(viewer=request.user), pk=customer_id)

    def head(
        self, request, customer_id: int, *, with_friendship: bool = False, with_membership: bool = False
    ) -> CustomerHead:
        """The same, read for display in one hand-written query (`clientbook.profile`)."""
        head = customer_head(
            viewer=request.user,
            customer_id=customer_id,
            with_friendship=with_friendship,
            with_membership=with_membership,
        )
        if head is None:
            raise Http404
        return head


def money_json(value: Decimal) -> str:
    """Money in the sidebar's JSON: a string to the cent, as DRF's DecimalField writes it."""
    return f"{value:.2f}"


def moment_json(value: datetime | None) -> str | None:
    """A timestamp in the sidebar's JSON: ISO 8601 in local time (Asia/Shanghai), as DRF writes it."""
    return timezone.localtime(value).isoformat() if value else None
