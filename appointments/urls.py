"""The customer's appointment pages, under /a/."""

from django.urls import path

from appointments.views import appointment_book_page, appointment_page

urlpatterns = [
    path("v/<str:token>/", appointment_page, name="appointment-page"),
    path("<str:token>/", appointment_book_page, name="appointment-book-page"),
]
