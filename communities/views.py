"""Workbench actions for community invites (HTML form posts from the associate's workbench page)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from communities.models import Invite
from communities.services import community_invite_send
from customers.selectors import customers_visible
from omni.errors import ApplicationError
from omni.wecom.auth import associate_required, embeddable
from omni.wecom.client import WeComError


@embeddable
@require_POST
@associate_required
def workbench_community_invite(request: HttpRequest) -> HttpResponseRedirect:
    """One tap on 邀请进群 beside a customer: the poster goes to WeCom's group-message assistant for them.

    The form carries a request id made when the page was drawn, so a double tap or a resubmitted form invites once.
    """
    back = HttpResponseRedirect(reverse("workbench") + "#community")
    try:
        customer_id = int(request.POST.get("customer_id", ""))
    except ValueError:
        messages.error(request, "没有这位客户")
        return back
    customer = customers_visible(viewer=request.associate).filter(pk=customer_id).first()
    if customer is None:
        messages.error(request, "没有这位客户")
        return back
    try:
        sent = community_invite_send(
            associate=request.associate,
            customer_id=customer.pk,
            request_id=request.POST.get("request_id", ""),
            channel=Invite.Channel.WORKBENCH,
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return back
    except WeComError as error:
        messages.error(request, f"企业微信暂时无法发送（{error.errcode}），请稍后再试")
        return back
    name = customer.name or "客户"
    if sent.created:
        messages.success(request, f"已把社群海报放进群发助手，请在企业微信中确认发送给{name}")
    else:
        messages.info(request, f"已邀请过{name}")
    return back
