"""Creates the Django workload's SQLite database ($BENCHAPP_DB) with 20 rows."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangosite.settings")

import django  # noqa: E402
from django.core.management import call_command  # noqa: E402

django.setup()

from djangosite.pages.models import Item  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)
Item.objects.all().delete()
Item.objects.bulk_create(Item(name=f"item {i}", price=i * 1.25) for i in range(20))
