"""Data migration: three products, so / has something to list."""

from decimal import Decimal

from django.db import migrations

PRODUCTS = [
    ("Anvil", Decimal("49.99"), "Heavy. Drop with care."),
    ("Bicycle", Decimal("199.00"), "Two wheels, one bell."),
    ("Coffee mug", Decimal("7.50"), "Holds 350 ml."),
]


def seed(apps, schema_editor):
    Product = apps.get_model("shop", "Product")
    for name, price, description in PRODUCTS:
        Product.objects.update_or_create(
            name=name, defaults={"price": price, "description": description})


def unseed(apps, schema_editor):
    Product = apps.get_model("shop", "Product")
    Product.objects.filter(name__in=[p[0] for p in PRODUCTS]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("shop", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, unseed),
    ]
