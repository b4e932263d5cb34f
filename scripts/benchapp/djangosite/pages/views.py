from django.shortcuts import render

from djangosite.pages.models import Item


def page(request):
    # One query, rendered through a template.
    return render(request, "pages/page.html", {"items": list(Item.objects.order_by("id")[:20])})
