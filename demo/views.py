"""`/`: staff go to the admin; in the demo (OMNI_DEMO) everyone else gets an index of the demo's pages and logins;
elsewhere, to the admin's sign-in. A person who opens the bare address never meets a 404."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from demo.brand import demo_logins


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_staff or not settings.OMNI_DEMO:
        return redirect("admin:index")
    emulator = settings.WECOM_EMULATOR_URL.rstrip("/")
    return render(
        request,
        "demo/home.html",
        {
            "admin_url": request.build_absolute_uri(reverse("admin:index")),
            "docs_url": request.build_absolute_uri(reverse("api-docs")),
            "schema_url": request.build_absolute_uri(reverse("schema")),
            "emulator_url": f"{emulator}/" if emulator else "",
            "logins": demo_logins(),
        },
    )
