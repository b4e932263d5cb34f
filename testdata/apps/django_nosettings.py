"""A Django entry point that forgot DJANGO_SETTINGS_MODULE, for the test of
gowsgi's "Django settings are not configured" hint."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
