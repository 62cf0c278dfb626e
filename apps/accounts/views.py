"""Web pages of the accounts app: API tokens, audit log."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.selectors import api_tokens_for, audit_events_visible_to
from apps.accounts.services import api_token_create, api_token_revoke
from apps.core.exceptions import ApplicationError
from apps.core.pagination import paginate_page


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    new_key = None
    if request.method == "POST":
        try:
            new_key = api_token_create(user=request.user, name=request.POST.get("name", ""), request=request)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return render(request, "accounts/api_tokens.html",
                  {"page_obj": paginate_page(request, api_tokens_for(user=request.user)), "new_key": new_key})


@login_required
@require_POST
def api_token_revoke_view(request, token_id: int):
    token = get_object_or_404(api_tokens_for(user=request.user), pk=token_id)
    api_token_revoke(token=token, actor=request.user, request=request)
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("api-tokens")


@login_required
@permission_required("accounts.view_auditevent", raise_exception=True)
def audit_log_view(request):
    events = audit_events_visible_to(user=request.user)
    return render(request, "accounts/audit_log.html", {"page_obj": paginate_page(request, events, per_page=50)})


def login_locked_out(request, original_response=None, credentials=None):
    """What a locked-out login sees (settings.AXES_LOCKOUT_CALLABLE): the login page, saying why and for how long,
    answered 429 with Retry-After."""
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth.forms import AuthenticationForm

    cooloff: timedelta = settings.AXES_COOLOFF_TIME
    minutes = max(1, round(cooloff.total_seconds() / 60))
    message = (f"Too many failed log-ins for this account from your address. Log-in is locked for {minutes} "
               f"minutes after the last failed attempt; try again later or ask an administrator to unlock it.")
    response = render(request, "accounts/login.html", {"form": AuthenticationForm(request), "lockout": message},
                      status=429)
    response["Retry-After"] = str(int(cooloff.total_seconds()))
    return response
