"""What each role's dashboard lists (page-only reads). The view renders `dashboard_<role>.html` with this.

Patient data shown here (the reviewer's queue, the clinician's drafts sent back) is audited like the lists it
comes from."""
from __future__ import annotations

from apps.accounts.roles import ADMIN, ANALYST, CLINICIAN, REVIEWER
from apps.generation.selectors import job_counts_for, jobs_visible_to

SHOWN = 10


def dashboard_context(*, user, request=None) -> dict:
    role = user.role or "none"
    context: dict = {"role": role, "recent_jobs": jobs_visible_to(user=user)[:SHOWN],
                     "job_counts": job_counts_for(user=user)}
    if role == REVIEWER:
        from apps.medical import selectors, services

        queue = selectors.review_queue(user=user)
        context["queue"] = list(queue[:SHOWN])
        context["queue_count"] = queue.count()
        services.encounters_list_audit(encounter_ids=[d.encounter_id for d in context["queue"]], user=user,
                                       request=request)
    elif role == CLINICIAN:
        from apps.medical import selectors, services
        from apps.medical.models import Draft

        sent_back = (selectors.drafts_for_user(user=user).filter(status=Draft.Status.SENT_BACK)
                     .prefetch_related("reviews__reviewer").order_by("-created_at", "-id"))
        context["sent_back"] = [
            {"draft": d, "review": max(d.reviews.all(), key=lambda r: (r.created_at, r.pk), default=None)}
            for d in sent_back[:SHOWN]
        ]
        services.encounters_list_audit(encounter_ids=[row["draft"].encounter_id for row in context["sent_back"]],
                                       user=user, request=request)
    elif role in (ANALYST, ADMIN):
        from apps.finance.reports.selectors import reports_for_user

        context["recent_reports"] = list(reports_for_user(user=user).order_by("-created_at", "-id")[:SHOWN])
    if role == ADMIN:
        from apps.adapters.models import AdapterVersion
        from apps.adapters.selectors import active_adapters

        context["active_adapters"] = active_adapters()
        context["evaluating"] = AdapterVersion.objects.filter(
            eval_status__in=(AdapterVersion.EvalStatus.PENDING, AdapterVersion.EvalStatus.RUNNING)).count()
    return context
