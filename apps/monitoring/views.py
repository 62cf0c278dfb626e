"""The monitoring page (admins): each statistic over time with its threshold, the alerts, queue depths and
serving numbers. Charts are drawn by static/js/monitoring.js (Chart.js, vendored) from a json_script block."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError
from apps.core.pagination import paginate_page
from apps.generation.broker import queue_depths
from apps.monitoring.models import Alert
from apps.monitoring.selectors import alerts_list, monitoring_charts, serving_numbers


@login_required
@permission_required("monitoring.view_snapshot", raise_exception=True)
def monitoring_page(request):
    return render(request, "monitoring/index.html", {
        "charts": monitoring_charts(),
        "alerts": paginate_page(request, alerts_list(), per_page=25),
        "queues": _queue_depths(("gpu", "default")),
        "serving": serving_numbers(),
        "window_size": settings.PLUMBLINE_MONITORING_WINDOW_SIZE,
    })


def _queue_depths(queues: tuple[str, ...]) -> dict[str, int | None]:
    """Messages waiting in each queue; None for each when the broker cannot be read that way."""
    read = queue_depths(list(queues))
    return read[0] if read is not None else dict.fromkeys(queues)


@require_POST
@login_required
@permission_required("monitoring.change_alert", raise_exception=True)
def alert_acknowledge_view(request, alert_id: int):
    from apps.monitoring.services import alert_acknowledge

    alert = get_object_or_404(Alert, pk=alert_id)
    try:
        alert_acknowledge(alert=alert, actor=request.user, request=request)
        messages.success(request, f"Alert {alert.pk} acknowledged.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("monitoring:index")


@login_required
@permission_required("monitoring.view_snapshot", raise_exception=True)
def planner_page(request):
    """The capacity planner (modelcore.planner): the design's hardware matrix beside the roofline's predictions,
    and one plan for the model, precision and hardware asked for (GET). Bad values answer 400 with the reason."""
    from apps.generation import model_api
    from apps.monitoring.forms import PlannerForm

    asked = any(name in request.GET for name in PlannerForm.FIELDS)
    form = PlannerForm(request.GET if asked else None,
                       initial={"model": "deepseek-llm-7b-base", "precision": "bf16", "hardware": "a100-80gb-sxm",
                                "devices": 2, "scenario": "chat"})
    result = None
    if asked and form.is_valid():
        inputs = {k: v for k, v in form.cleaned_data.items() if v is not None}
        try:
            result = model_api.capacity_plan(**inputs)
        except ValueError as exc:  # modelcore.planner.PlanError: the planner's reason
            form.add_error(None, str(exc))
    return render(request, "monitoring/planner.html", {"form": form, "plan": result, **model_api.capacity_matrix()},
                  status=400 if form.errors else 200)
