"""Settings of the Django workload of scripts/bench: one template page that
runs one SQLite query. The database is $BENCHAPP_DB (scripts/bench fills it
with setup_db.py before any server starts)."""

import os
import tempfile

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djangosite.urls"
INSTALLED_APPS = ["djangosite.pages"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCHAPP_DB", os.path.join(tempfile.gettempdir(), "benchapp.sqlite3")),
    }
}
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
