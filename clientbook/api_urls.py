"""The client book's brand-system API routes under /api/v1/ (ApiKey-authenticated, as customers.urls)."""

from django.urls import path

from clientbook.code_apis import MemberCodeApi

urlpatterns = [
    path("members/code", MemberCodeApi.as_view(), name="member-code"),
]
