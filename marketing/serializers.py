"""API representations of Meta ad insights and attribution events (read-only)."""

from rest_framework import serializers

from marketing.models import AdInsight, AttributionEvent
from ptd.api import ScopedModelSerializer


class AdInsightSerializer(ScopedModelSerializer):
    ad_meta_id = serializers.CharField(source="ad.meta_id", read_only=True)
    ad_name = serializers.CharField(source="ad.name", read_only=True)
    adset_meta_id = serializers.CharField(source="adset.meta_id", read_only=True)
    adset_name = serializers.CharField(source="adset.name", read_only=True)
    campaign_meta_id = serializers.CharField(source="campaign.meta_id", read_only=True)
    campaign_name = serializers.CharField(source="campaign.name", read_only=True)

    class Meta:
        model = AdInsight
        fields = [
            "id", "date", "ad", "ad_meta_id", "ad_name", "adset", "adset_meta_id", "adset_name", "campaign",
            "campaign_meta_id", "campaign_name", "spend", "impressions", "reach", "clicks", "link_clicks", "leads",
            "purchases", "purchase_value", "meta_roas", "cpc", "cpm", "ctr", "frequency", "synced_at", "is_demo",
        ]
        read_only_fields = fields


class AttributionEventSerializer(ScopedModelSerializer):
    """The normalised event; the raw payload is not served (AnyTrack sends the visitor's email and phone)."""

    class Meta:
        model = AttributionEvent
        fields = [
            "id", "source", "external_id", "contact", "event_name", "value", "currency", "occurred_at",
            "received_at", "click_id", "transaction_id", "fbclid", "fbc", "fbp", "campaign_id", "adset_id", "ad_id",
            "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "is_demo",
        ]
        read_only_fields = fields
