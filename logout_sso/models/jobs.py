"""Organization-wide logouts, run as background jobs whose state lives in the database."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from logout_sso.models.organizations import Organization


class JobState(models.TextChoices):
    """Where an organization-wide logout stands (``OrganizationLogoutJob.state``)."""

    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")


class OrganizationLogoutJob(models.Model):
    """Logging every user of an organization out of every application, a batch of users at a
    time: the users are taken in (issuer, sub) order and the job keeps the last one done, in
    the same transaction as their logouts, so a job whose worker died goes on from there with
    no user skipped and none logged out twice."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="logout_jobs",
        verbose_name=_("organization"),
        help_text=_("The organization whose users are logged out."),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
        help_text=_("The admin who asked for it, when a person did."),
    )
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=JobState.choices,
        default=JobState.QUEUED,
        help_text=_("Queued, running (a batch of users at a time), or done."),
    )
    users_total = models.PositiveIntegerField(
        _("users"),
        default=0,
        help_text=_("Users with a live session in an application when the job was requested."),
    )
    users_done = models.PositiveIntegerField(
        _("users done"), default=0, help_text=_("Users logged out so far.")
    )
    local_sessions_ended = models.PositiveIntegerField(
        _("sessions ended here"),
        default=0,
        help_text=_("This project's own sessions of the organization's users that were ended."),
    )
    last_issuer = models.CharField(
        _("last issuer done"),
        max_length=500,
        blank=True,
        editable=False,
        help_text=_("With the last subject: where the next batch starts."),
    )
    last_sub = models.CharField(
        _("last subject done"),
        max_length=255,
        blank=True,
        editable=False,
        help_text=_("With the last issuer: where the next batch starts."),
    )
    created_at = models.DateTimeField(
        _("requested at"), auto_now_add=True, help_text=_("When the job was requested.")
    )
    started_at = models.DateTimeField(
        _("started at"), null=True, blank=True, help_text=_("When its first batch began.")
    )
    updated_at = models.DateTimeField(
        _("updated at"),
        auto_now=True,
        help_text=_("When a batch last moved it on; a job that stops moving is taken up again."),
    )
    finished_at = models.DateTimeField(
        _("finished at"),
        null=True,
        blank=True,
        help_text=_("When every user was logged out (deliveries may still be under way)."),
    )

    class Meta:
        verbose_name = _("organization-wide logout")
        verbose_name_plural = _("organization-wide logouts")
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=~Q(state="done"),
                name="logout_sso_job_unfinished",
            ),
        ]

    def __str__(self) -> str:
        return str(
            _("Logout of every user of %(organization)s") % {"organization": self.organization.name}
        )
