from django.contrib.auth import views as auth_views
from django.urls import path

from geoloc_platform.accounts import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.sign_up, name="sign_up"),
    path("confirm/resend/", views.confirm_email_resend, name="confirm_email_resend"),
    path("confirm/<str:token>/", views.confirm_email, name="confirm_email"),
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
