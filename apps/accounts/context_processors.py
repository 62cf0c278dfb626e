"""Navigation links by role, for the base template."""
from django.urls import reverse

from apps.accounts.roles import ADMIN, ANALYST, CLINICIAN, REVIEWER

_NAV: dict[str, list[tuple[str, str]]] = {
    ANALYST: [
        ("Dashboard", "dashboard"), ("Companies", "finance:company-list"), ("Reports", "finance:report-list"),
        ("Generate", "generation:job-new"), ("Jobs", "generation:job-list"),
    ],
    CLINICIAN: [
        ("Dashboard", "dashboard"), ("Encounters", "medical:encounter-list"), ("Generate", "generation:job-new"),
        ("Jobs", "generation:job-list"),
    ],
    REVIEWER: [
        ("Dashboard", "dashboard"), ("Review queue", "medical:review-queue"), ("Encounters", "medical:encounter-list"),
        ("Jobs", "generation:job-list"),
    ],
    ADMIN: [
        ("Dashboard", "dashboard"),
        ("Generate", "generation:job-new"),
        ("Jobs", "generation:job-list"),
        ("Companies", "finance:company-list"),
        ("Reports", "finance:report-list"),
        ("Adapters", "adapters:list"),
        ("Monitoring", "monitoring:index"),
        ("Planner", "monitoring:planner"),
        ("Audit log", "audit-log"),
    ],
}


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_links": []}
    links = [(label, reverse(name)) for label, name in _NAV.get(user.role or "", [("Dashboard", "dashboard")])]
    links.append(("API tokens", reverse("api-tokens")))
    return {"nav_links": links, "user_role": user.role}
