"""Django admin: teams, and a user page that sets only the user's team (never roles or superuser flags)."""
from django.contrib import admin

from apps.accounts.models import Team, User


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)


@admin.register(User)
class UserTeamAdmin(admin.ModelAdmin):
    list_display = ("username", "role", "team")
    list_filter = ("team",)
    search_fields = ("username",)
    fields = ("username", "team")
    readonly_fields = ("username",)

    def role(self, obj):
        return obj.role

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        from apps.accounts.services import user_set_team

        team = obj.team
        obj.team_id = User.objects.filter(pk=obj.pk).values_list("team_id", flat=True).first()
        user_set_team(user=obj, team=team, actor=request.user, request=request)
