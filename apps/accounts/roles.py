"""The four roles, as Django groups, and the permissions each holds."""
from __future__ import annotations

from apps.core.domains import Domain

ANALYST, CLINICIAN, REVIEWER, ADMIN = "analyst", "clinician", "reviewer", "admin"
ROLES = (ANALYST, CLINICIAN, REVIEWER, ADMIN)

# role -> "app_label.codename" permissions. Apps add theirs here as they land.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ANALYST: (
        "generation.add_generationjob", "generation.view_generationjob", "adapters.view_adapterversion",
        "finance.view_report", "finance.add_report", "finance.change_report",  # research reports
        "finance.view_company", "finance.add_company", "finance.add_financialstatement",  # companies, statements
    ),
    CLINICIAN: (
        "generation.add_generationjob", "generation.view_generationjob", "adapters.view_adapterversion",
        # medicine: encounters, triage, drafts (request, edit = new version)
        "medical.view_encounter", "medical.add_encounter", "medical.add_triageassessment", "medical.view_draft",
        "medical.add_draft",
    ),
    REVIEWER: (
        "generation.view_generationjob", "adapters.view_adapterversion",
        # medicine: read encounters and drafts, edit (a new version), review
        "medical.view_encounter", "medical.view_draft", "medical.add_draft", "medical.add_review",
    ),
    ADMIN: (
        "generation.add_generationjob",
        "generation.view_generationjob",
        "accounts.view_auditevent",
        "accounts.view_user",
        "adapters.view_adapterversion",
        "adapters.add_adapterversion",  # upload
        "adapters.change_adapterversion",  # activate, roll back
        "finance.view_report", "finance.add_report", "finance.change_report",  # research reports
        "finance.view_company", "finance.add_company", "finance.add_financialstatement",  # companies, statements
        "accounts.view_team", "accounts.add_team", "accounts.change_team",  # teams (Django admin)
        "accounts.change_user",  # assign a team (the admin's User page shows only the team field)
        "monitoring.view_snapshot", "monitoring.view_alert", "monitoring.change_alert",  # monitoring, acknowledge
    ),
}

# Which generation domains a role may ask for.
ROLE_DOMAINS: dict[str, tuple[str, ...]] = {
    ANALYST: (Domain.FINANCE, Domain.GENERAL),
    CLINICIAN: (Domain.MEDICAL, Domain.GENERAL),
    REVIEWER: (),
    ADMIN: (Domain.FINANCE, Domain.MEDICAL, Domain.GENERAL),
}


def roles_sync() -> None:
    """Create the role groups and give each exactly its permissions (idempotent)."""
    from django.contrib.auth.models import Group, Permission

    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for dotted in ROLE_PERMISSIONS[role]:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                wanted.append(perm)
        if set(group.permissions.all()) != set(wanted):
            group.permissions.set(wanted)


def sync_roles_after_migrate(sender, **kwargs) -> None:
    # Sent once per app, each after that app's permissions exist; syncing each time is cheap and idempotent.
    roles_sync()
