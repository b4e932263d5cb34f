from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("contact/", views.contact, name="contact"),
    path("contact/thanks/", views.contact_thanks, name="contact-thanks"),
    path("stream/", views.stream, name="stream"),
    path("download/", views.download, name="download"),
    path("boom/", views.boom, name="boom"),
]
