"""Sign-up; login and logout are Django's own views (throttled by django-axes)."""

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from geoloc_platform.accounts import services
from geoloc_platform.accounts.forms import VolunteerSignUpForm


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("crises:list")
    form = VolunteerSignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.volunteer_sign_up(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("crises:list")
    return render(request, "accounts/sign_up.html", {"form": form})
