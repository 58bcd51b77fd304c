"""API representations of people and their journey (read-only). Viewers get them without the
fields in Meta.pii_fields (see ptd.api.ScopedModelSerializer)."""

from rest_framework import serializers

from clients.models import Call, Contact, Deal, DealStageHistory, HealthScore, TrainingSession
from ptd.api import ScopedModelSerializer


class ContactSerializer(ScopedModelSerializer):
    owner_name = serializers.CharField(source="owner.name", read_only=True, allow_null=True, default=None)
    coach_name = serializers.CharField(source="coach.name", read_only=True, allow_null=True, default=None)
    # The latest health score (annotated by the view; null for leads who were never clients).
    health_date = serializers.DateField(read_only=True, allow_null=True, default=None)
    health_total = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True, allow_null=True,
                                            default=None)
    health_zone = serializers.CharField(read_only=True, allow_null=True, default=None)
    health_trend = serializers.CharField(read_only=True, allow_null=True, default=None)
    churn_risk = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True, allow_null=True,
                                          default=None)

    class Meta:
        model = Contact
        fields = [
            "id", "hubspot_id", "email_normalized", "phone_e164", "first_name", "last_name", "lifecycle_stage",
            "created_at", "updated_at", "owner", "owner_name", "coach", "coach_name",
            "source", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
            "fbclid", "fbc", "fb_campaign_id", "fb_adset_id", "fb_ad_id", "is_demo",
            "health_date", "health_total", "health_zone", "health_trend", "churn_risk",
        ]
        read_only_fields = fields
        pii_fields = Contact.PII_FIELDS


class StageEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = DealStageHistory
        fields = ["stage_id", "entered_at"]
        read_only_fields = fields


class DealSerializer(ScopedModelSerializer):
    owner_name = serializers.CharField(source="owner.name", read_only=True, allow_null=True, default=None)
    stage_history = StageEntrySerializer(many=True, read_only=True)

    class Meta:
        model = Deal
        fields = [
            "id", "hubspot_id", "name", "contact", "owner", "owner_name", "pipeline", "stage_id", "amount",
            "cash_collected", "created_at", "updated_at", "close_date", "closed_lost_reason", "stage_history",
            "is_demo",
        ]
        read_only_fields = fields
        # HubSpot deal names are usually the client's name ("Aisha K. – 24 sessions").
        pii_fields = ("name",)


class CallSerializer(ScopedModelSerializer):
    staff_name = serializers.CharField(source="staff.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Call
        fields = [
            "id", "source", "source_id", "contact", "staff", "staff_name", "direction", "contact_phone_e164",
            "started_at", "talk_seconds", "wait_seconds", "outcome", "recording_url", "is_demo",
        ]
        read_only_fields = fields
        # The recording is the person's voice, name and number.
        pii_fields = ("contact_phone_e164", "recording_url")


class TrainingSessionSerializer(ScopedModelSerializer):
    coach_name = serializers.CharField(source="coach.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = TrainingSession
        fields = ["id", "source_id", "contact", "coach", "coach_name", "package", "starts_at", "status", "is_demo"]
        read_only_fields = fields


class HealthScoreSerializer(ScopedModelSerializer):
    client_name = serializers.SerializerMethodField()
    coach = serializers.IntegerField(source="contact.coach_id", read_only=True, allow_null=True)

    class Meta:
        model = HealthScore
        fields = ["id", "contact", "client_name", "coach", "date", "total", "engagement", "financial", "relationship",
                  "package_health", "momentum", "zone", "trend", "week_over_week", "churn_risk", "churn_risk_source",
                  "flags", "model_version", "computed_at", "is_demo"]
        read_only_fields = fields
        pii_fields = ("client_name",)

    def get_client_name(self, row) -> str:
        return row.contact.full_name
