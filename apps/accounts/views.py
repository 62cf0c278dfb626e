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
