from django.urls import path

from associates.views import sidebar, sidebar_contact

urlpatterns = [
    path("", sidebar, name="sidebar"),
    path("contact/", sidebar_contact, name="sidebar-contact"),
]
