import os

from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect, render

from .forms import ContactForm
from .models import Product


def index(request):
    return render(request, "shop/index.html", {"products": Product.objects.all()})


def contact(request):
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            return redirect("contact-thanks")
    else:
        form = ContactForm()
    return render(request, "shop/contact.html", {"form": form})


def contact_thanks(request):
    return render(request, "shop/thanks.html")


def stream(request):
    def lines():
        for i in range(10):
            yield "line %d\n" % i
    return StreamingHttpResponse(lines(), content_type="text/plain")


def download(request):
    name = os.environ.get("DEMO_DOWNLOAD", "")
    if not name or not os.path.isfile(name):
        raise Http404("DEMO_DOWNLOAD is unset or not a file")
    return FileResponse(open(name, "rb"), as_attachment=True,
                        filename=os.path.basename(name))


def boom(request):
    raise RuntimeError("django_demo /boom/: deliberate error")
