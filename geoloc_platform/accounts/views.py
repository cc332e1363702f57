"""Sign-up and e-mail confirmation; login and logout are Django's own views (throttled by django-axes)."""

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from geoloc_platform.accounts import services
from geoloc_platform.accounts.forms import VolunteerSignUpForm
from geoloc_platform.client_address import client_address
from geoloc_platform.crises.selectors import user_email_confirmed


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("crises:list")
    form = VolunteerSignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not services.sign_up_slot_take(client_address=client_address(request)):
            return render(request, "accounts/sign_up.html", {"form": form, "too_many": True}, status=429)
        user = services.volunteer_sign_up(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        services.email_confirmation_send(user=user, link=_confirmation_link(request, user))
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("crises:list")
    return render(request, "accounts/sign_up.html", {"form": form})


def _confirmation_link(request: HttpRequest, user) -> str:
    token = services.email_confirmation_token(user=user)
    return request.build_absolute_uri(reverse("accounts:confirm_email", args=[token]))


def confirm_email(request: HttpRequest, token: str) -> HttpResponse:
    user = services.email_confirm(token=token)
    status = 200 if user is not None else 400
    return render(request, "accounts/email_confirmed.html", {"confirmed_user": user}, status=status)


@login_required
@require_POST
def confirm_email_resend(request: HttpRequest) -> HttpResponse:
    """Send the link again (from a crisis page that asks for a confirmed address)."""
    if request.user.email and not user_email_confirmed(user=request.user):
        services.email_confirmation_send(user=request.user, link=_confirmation_link(request, request.user))
    return render(request, "accounts/email_confirmed.html", {"sent_to": request.user.email})
