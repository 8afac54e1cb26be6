"""The WeCom callback endpoint: verify, decrypt, store, enqueue, answer — in milliseconds."""

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from omni.metrics import wecom_callback_answered
from wecom.crypto import CallbackError
from wecom.services import callback_crypto, callback_event_store
from wecom.tasks import callback_event_queue

logger = logging.getLogger(__name__)

_STATUS = {"invalid_signature": 403, "stale_timestamp": 403, "invalid_timestamp": 400}


@csrf_exempt
@require_http_methods(["GET", "POST"])
def wecom_callback(request: HttpRequest) -> HttpResponse:
    params = {name: request.GET.get(name, "") for name in ("msg_signature", "timestamp", "nonce")}
    crypto = callback_crypto()
    try:
        if request.method == "GET":
            echo = crypto.verify_url(echostr=request.GET.get("echostr", ""), **params)
            wecom_callback_answered(outcome="verified")
            return HttpResponse(echo, content_type="text/plain")
        payload = crypto.decrypt_message(body=request.body, **params)
    except CallbackError as error:
        logger.warning("Refused WeCom callback: %s (%s)", error.code, error.message)
        wecom_callback_answered(outcome="refused", reason=error.code)
        return HttpResponse(error.code, status=_STATUS.get(error.code, 400), content_type="text/plain")
    callback_event_store(payload=payload, process_later=callback_event_queue)
    wecom_callback_answered(outcome="accepted")
    return HttpResponse("success", content_type="text/plain")
