"""django-q2 entry points of the platform app; they call services and return a short summary."""

from datetime import timedelta

from django.utils import timezone


def housekeeping() -> str:
    from axes.models import AccessAttempt, AccessLog
    from channels_postgres.models import GroupChannel, Message

    now = timezone.now()
    messages = Message.objects.filter(expire__lt=now).delete()[0]
    # A websocket that vanished without disconnecting leaves its group rows behind.
    groups = GroupChannel.objects.filter(expire__lt=now - timedelta(days=1)).delete()[0]
    attempts = AccessAttempt.objects.filter(attempt_time__lt=now - timedelta(days=30)).delete()[0]
    logs = AccessLog.objects.filter(attempt_time__lt=now - timedelta(days=90)).delete()[0]
    return f"pruned {messages} messages, {groups} group rows, {attempts} login attempts, {logs} login logs"
