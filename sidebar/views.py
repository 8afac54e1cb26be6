"""Pages inside WeCom for associates. The sidebar here is the minimal WeCom round trip (OAuth, JS-SDK,
current contact, sendChatMessage); the customer 360 grows on it."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_POST

from associates.auth import associate_required, embeddable, jssdk_params
from associates.models import Associate
from clientbook.selectors import (
    associate_open_tasks,
    customers_visible,
    workbench_customers_list,
)
from communities.models import Invite
from communities.selectors import associate_invite_funnel, workbench_uninvited_customers
from communities.services import community_for_store, community_invite_send
from insights.selectors import store_month_get
from omni.errors import ApplicationError
from sidebar.contacts import sidebar_contact_customer, sidebar_contact_json
from wecom.client import WeComError


@embeddable
@associate_required
def workbench(request: HttpRequest, *, associate: Associate):
    """The WeCom app's home, outside a chat: my open tasks and my customers."""
    try:
        page_no = int(request.GET.get("page", 1))
    except ValueError:
        page_no = 1
    query, tag = request.GET.get("q", ""), request.GET.get("tag", "")
    context = {
        "associate": associate,
        "tasks": associate_open_tasks(associate=associate),
        "page": workbench_customers_list(associate=associate, query=query, tag=tag, page=page_no),
        "query": query,
        "tag": tag,
        "today": timezone.localdate(),
        "community": community_for_store(store_id=associate.store_id),
        # Each row's form carries its own request id, so a double tap or a resubmitted form invites once.
        "uninvited": [(customer, uuid.uuid4().hex) for customer in workbench_uninvited_customers(associate=associate)],
        "funnel": associate_invite_funnel(associate=associate),
        "is_manager": associate.is_store_manager,
    }
    return render(request, "sidebar/workbench.html", context)


@gzip_page
@embeddable
@associate_required
def sidebar(request: HttpRequest, *, associate: Associate):
    """The chat sidebar. Its JS-SDK signatures are in the page (no round trip before wx.agentConfig can start), for
    the URL the browser asked for; the page asks /wecom/jssdk/config/ when it finds itself at another (or WeCom
    could not give the tickets). Sent compressed: a phone's first screen waits for every byte of it."""
    url = request.build_absolute_uri().split("#")[0]
    try:
        jssdk = {"url": url, **jssdk_params(url=url)}
    except WeComError:
        jssdk = None
    return render(
        request,
        "sidebar/sidebar.html",
        {
            "associate": associate,
            "jssdk": jssdk,
            "jssdk_url": settings.WECOM_JSSDK_URL,
            "product_url": settings.OMNI_PRODUCT_URL,
            "miniprogram_appid": settings.WECOM_MINIPROGRAM_APPID,
            "miniprogram_page": settings.WECOM_MINIPROGRAM_PAGE,
        },
    )


@associate_required
def sidebar_contact(request: HttpRequest, *, associate: Associate) -> JsonResponse:
    """The customer behind a WeCom external_userid, if this associate may see them (else 404).

    A contact we have no record of yet is looked up in WeCom and recorded when they are this associate's.
    """
    external_userid = request.GET.get("external_userid", "")
    try:
        customer = sidebar_contact_customer(associate=associate, external_userid=external_userid)
    except ApplicationError as error:
        return JsonResponse({"error": {"code": error.code, "message": error.message}}, status=error.status_code)
    if customer is None:
        return JsonResponse({"error": {"code": "not_found", "message": "没有找到这位客户"}}, status=404)
    return JsonResponse(sidebar_contact_json(customer))


@embeddable
@require_POST
@associate_required
def workbench_community_invite(request: HttpRequest, *, associate: Associate) -> HttpResponseRedirect:
    """One tap on 邀请进群 beside a customer: the poster goes to WeCom's group-message assistant for them.

    The form carries a request id made when the page was drawn, so a double tap or a resubmitted form invites once.
    """
    back = HttpResponseRedirect(reverse("workbench") + "#community")
    try:
        customer_id = int(request.POST.get("customer_id", ""))
    except ValueError:
        messages.error(request, "没有这位客户")
        return back
    customer = customers_visible(viewer=associate).filter(pk=customer_id).first()
    if customer is None:
        messages.error(request, "没有这位客户")
        return back
    try:
        sent = community_invite_send(
            associate=associate,
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


@embeddable
@associate_required
def my_month(request: HttpRequest, *, associate: Associate, associate_id: int | None = None):
    """我的本月业绩: an associate's month (attributed sales, target, new customers, coupons, tasks, rank). Anyone else's
    month is the manager of their store's to open, and a 404 for every other associate."""
    subject = associate
    if associate_id is not None and associate_id != associate.pk:
        subject = Associate.objects.select_related("store").filter(pk=associate_id).first()
        if subject is None or not associate.manages(subject.store_id):
            raise Http404
    month = store_month_get(store=subject.store, today=timezone.localdate())
    row = month.row_of(subject.pk)
    if row is None:
        raise Http404
    return render(
        request,
        "sidebar/my_month.html",
        {
            "associate": associate,
            "subject": subject,
            "month": month,
            "row": row,
            "is_manager": associate.manages(subject.store_id),
        },
    )


@embeddable
@associate_required
def store_month(request: HttpRequest, *, associate: Associate):
    """店长看板: the manager's store this month, each associate's figures and progress, and the overdue tasks."""
    if not associate.is_store_manager:
        raise Http404
    month = store_month_get(store=associate.store, today=timezone.localdate())
    return render(request, "sidebar/store_month.html", {"associate": associate, "month": month})
