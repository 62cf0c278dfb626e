from django.urls import path

from apps.adapters import views

app_name = "adapters"
urlpatterns = [
    path("", views.adapter_list, name="list"),
    path("eval-status/", views.adapter_eval_status, name="eval-status"),
    path("<int:adapter_id>/activate/", views.adapter_activate_view, name="activate"),
    path("<int:adapter_id>/rollback/", views.adapter_rollback_view, name="rollback"),
]
