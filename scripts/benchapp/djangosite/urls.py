from django.urls import path

from djangosite.pages import views

urlpatterns = [path("django/page", views.page)]
