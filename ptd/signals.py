"""Audit log entries for role changes (credential changes are logged by ptd.credentials)."""

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from ptd.models import AuditLog, Membership


@receiver(pre_save, sender=Membership)
def _remember_previous_role(sender, instance, **kwargs):
    instance._previous_role = (
        Membership.objects.filter(pk=instance.pk).values_list("role", flat=True).first() if instance.pk else None
    )


@receiver(post_save, sender=Membership)
def _log_role_change(sender, instance, created, **kwargs):
    previous = getattr(instance, "_previous_role", None)
    if created or previous != instance.role:
        AuditLog.objects.create(
            workspace=instance.workspace, actor=getattr(instance, "_actor", None),
            action="membership.created" if created else "membership.role_changed",
            object_type="Membership", object_id=str(instance.pk),
            detail={"user": instance.user.username, "role": instance.role, "previous_role": previous},
        )


@receiver(post_delete, sender=Membership)
def _log_membership_removed(sender, instance, **kwargs):
    AuditLog.objects.create(
        workspace=instance.workspace, actor=getattr(instance, "_actor", None), action="membership.deleted",
        object_type="Membership", object_id=str(instance.pk), detail={"user_id": instance.user_id, "role": instance.role},
    )
