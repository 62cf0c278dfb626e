"""Receivers that keep API tokens and login lockouts in step with the account, whichever path changed it.

A password can change through the password-change page, the admin's set-password form, `manage.py
changepassword` or code calling `set_password`; an account is deactivated in the admin or by code. Each of those
ends in `User.save()`, so the receivers below watch that one place instead of every view.
"""
from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save


def revoke_tokens_on_password_change_or_deactivation(sender, instance, created: bool, **kwargs) -> None:
    """A new password or a deactivated account ends every live API token of the user (audited)."""
    from apps.accounts.services import api_tokens_revoke_all

    if created:
        return
    # AbstractBaseUser.set_password keeps the new raw password in `_password` until save() has run the
    # validators' password_changed hooks, i.e. until after post_save. A hash upgrade at login clears it first.
    if getattr(instance, "_password", None) is not None:
        api_tokens_revoke_all(user=instance, reason="password_change")
    elif not instance.is_active:
        api_tokens_revoke_all(user=instance, reason="deactivation")  # no-op when it has no live token


def audit_lockout(sender, request, username: str | None, ip_address: str | None, **kwargs) -> None:
    """django-axes locked a username+address out: audit the start of the lockout (not each refused retry)."""
    from apps.accounts.audit import audit_log
    from apps.accounts.models import User

    failures = getattr(request, "axes_failures_since_start", None)
    if failures != settings.AXES_FAILURE_LIMIT:
        return  # a retry during the lockout, already audited when it began
    user = User.objects.filter(username=username).first() if username else None
    audit_log(actor=None, action="auth.lockout", object_type="accounts.user", object_id=user.pk if user else "",
              request=request, detail={"username": (username or "")[:150], "failures": failures})


def connect() -> None:
    from axes.signals import user_locked_out

    post_save.connect(revoke_tokens_on_password_change_or_deactivation, sender=settings.AUTH_USER_MODEL,
                      dispatch_uid="accounts.revoke_tokens")
    user_locked_out.connect(audit_lockout, dispatch_uid="accounts.audit_lockout")
