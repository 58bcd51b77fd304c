"""`sync_meta_insights` through the real Graph client (requests) against the loopback FakeMetaGraph:
paging by `next`, numbers sent as strings parsed to Decimal / int, exactly one purchase action type,
upsert by (ad, date), the resumable window, throttling backed off, and one clear line on bad credentials."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import ManagementUtility, call_command
from django.utils import timezone

from marketing import services
from marketing.integrations import meta_graph
from marketing.models import Ad, AdInsight, AdSet, Campaign
from ptd.models import SyncState
from ptd.sync import SyncFailed
from tests.fakes.meta import FakeMetaGraph

TOKEN, ACCOUNT = "meta-token-abc", "1234567890"
AD1, AD2 = "120200000000000101", "120200000000000201"


@pytest.fixture
def meta(monkeypatch):
    with FakeMetaGraph(access_token=TOKEN, account_id=ACCOUNT) as fake:
        monkeypatch.setenv("META_GRAPH_BASE", fake.url)
        monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("META_AD_ACCOUNT_ID", f"act_{ACCOUNT}")
        yield fake
        assert not fake.errors, fake.errors[0]


@pytest.fixture
def slept(monkeypatch):
    """Back-off sleeps are recorded, never slept."""
    waits = []
    monkeypatch.setattr(meta_graph, "default_sleep", waits.append)
    return waits


def _seed(meta):
    meta.add_insight("2026-11-01", ad_id=AD1, ad_name="Transformation video", adset_id="5001",
                     adset_name="Dubai Marina 25-45", campaign_id="9001", campaign_name="Leads Nov",
                     spend="5339.5", impressions=120000, reach=80000, clicks=1500, inline_link_clicks=1200,
                     actions=[{"action_type": "lead", "value": "31", "7d_click": "30", "1d_view": "1"},
                              {"action_type": "omni_purchase", "value": "3"},
                              {"action_type": "purchase", "value": "3"},
                              {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "3"}],
                     action_values=[{"action_type": "omni_purchase", "value": "10500.75"},
                                    {"action_type": "purchase", "value": "10500.75"}],
                     purchase_roas=[{"action_type": "omni_purchase", "value": "1.966615"}])
    meta.add_insight("2026-11-02", ad_id=AD1, ad_name="Transformation video", adset_id="5001",
                     adset_name="Dubai Marina 25-45", campaign_id="9001", campaign_name="Leads Nov",
                     spend="100", impressions=2000, clicks=40,
                     actions=[{"action_type": "onsite_conversion.lead_grouped", "value": "2"}])
    meta.add_insight("2026-11-01", ad_id=AD2, ad_name="Coach testimonial", adset_id="5002",
                     adset_name="JLT retarget", campaign_id="9001", campaign_name="Leads Nov", spend="12.34",
                     impressions=500, clicks=5,
                     actions=[{"action_type": "offsite_conversion.fb_pixel_purchase", "value": "1"}],
                     action_values=[{"action_type": "offsite_conversion.fb_pixel_purchase", "value": "899"}])


def _sync(**kwargs):
    call_command("sync_meta_insights", **kwargs)


def test_insights_are_paged_parsed_and_stored(meta, workspace, monkeypatch):
    monkeypatch.setattr(services, "META_PAGE_LIMIT", 2)
    _seed(meta)

    _sync(since=date(2026, 11, 1), until=date(2026, 11, 2))

    calls = meta.requests_to(f"/v26.0/act_{ACCOUNT}/insights")
    assert len(calls) == 2  # 3 rows at 2 a page, the second page reached through `paging.next`
    first = calls[0].query
    assert (first["level"], first["time_increment"], first["limit"]) == ("ad", "1", "2")
    assert json.loads(first["time_range"]) == {"since": "2026-11-01", "until": "2026-11-02"}
    assert set(first["fields"].split(",")) == set(meta_graph.INSIGHT_FIELDS)
    assert json.loads(first["action_attribution_windows"]) == ["7d_click", "1d_view"]
    assert "after" in calls[1].query

    assert Campaign.objects.get(meta_id="9001").name == "Leads Nov"
    assert set(AdSet.objects.values_list("meta_id", "name")) == {("5001", "Dubai Marina 25-45"),
                                                                 ("5002", "JLT retarget")}
    ad1 = Ad.objects.get(meta_id=AD1)
    assert (ad1.name, ad1.adset.meta_id, ad1.campaign.meta_id) == ("Transformation video", "5001", "9001")

    day1 = AdInsight.objects.get(ad=ad1, date=date(2026, 11, 1))
    assert day1.spend == Decimal("5339.50")
    assert (day1.impressions, day1.reach, day1.clicks, day1.link_clicks) == (120000, 80000, 1500, 1200)
    assert day1.leads == 31
    assert day1.purchases == 3  # one of the three aliases, not 9
    assert day1.purchase_value == Decimal("10500.75")
    assert day1.meta_roas == Decimal("1.9666")
    assert day1.cpc == Decimal("3.5597") and day1.ctr == Decimal("1.2500")
    assert day1.raw["spend"] == "5339.5"
    assert (day1.campaign_id, day1.adset_id) == (ad1.campaign_id, ad1.adset_id)

    day2 = AdInsight.objects.get(ad=ad1, date=date(2026, 11, 2))
    assert (day2.leads, day2.purchases, day2.purchase_value, day2.meta_roas) == (2, 0, Decimal("0"), None)

    other = AdInsight.objects.get(ad__meta_id=AD2)
    assert (other.purchases, other.purchase_value, other.spend) == (1, Decimal("899.00"), Decimal("12.34"))

    state = SyncState.objects.get(workspace=workspace, source="meta")
    assert state.cursor["last_date"] == "2026-11-02"
    assert state.last_success_at is not None and state.last_error == ""


def test_upsert_by_ad_and_date_is_idempotent_and_takes_restatements(meta, workspace):
    _seed(meta)
    _sync(since=date(2026, 11, 1), until=date(2026, 11, 2))
    _sync(since=date(2026, 11, 1), until=date(2026, 11, 2))
    assert AdInsight.objects.count() == 3
    assert (Campaign.objects.count(), AdSet.objects.count(), Ad.objects.count()) == (1, 2, 2)

    # Meta restates a recent day and renames the ad: the same row is updated.
    meta.add_insight("2026-11-02", ad_id=AD1, ad_name="Transformation video v2", adset_id="5001",
                     campaign_id="9001", campaign_name="Leads Nov", spend="150.25", impressions=2500)
    _sync(since=date(2026, 11, 2), until=date(2026, 11, 2))
    assert AdInsight.objects.count() == 3
    assert AdInsight.objects.get(ad__meta_id=AD1, date=date(2026, 11, 2)).spend == Decimal("150.25")
    assert Ad.objects.get(meta_id=AD1).name == "Transformation video v2"


def test_default_window_backfills_90_days_in_30_day_requests_then_resumes(meta, workspace):
    today = timezone.localdate()
    meta.add_insight(today.isoformat(), ad_id=AD1, spend="10", impressions=100)

    _sync()
    ranges = [json.loads(r.query["time_range"]) for r in meta.requests_to(f"/v26.0/act_{ACCOUNT}/insights")]
    assert ranges[0]["since"] == (today - timedelta(days=90)).isoformat()
    assert ranges[-1]["until"] == today.isoformat()
    for previous, current in zip(ranges, ranges[1:]):
        assert date.fromisoformat(current["since"]) == date.fromisoformat(previous["until"]) + timedelta(days=1)
    assert all((date.fromisoformat(r["until"]) - date.fromisoformat(r["since"])).days < 30 for r in ranges)
    assert AdInsight.objects.count() == 1

    meta.clear_requests()
    _sync()  # the next run re-reads from the last synced day minus 3 (Meta restates recent days)
    [only] = [json.loads(r.query["time_range"]) for r in meta.requests]
    assert only == {"since": (today - timedelta(days=3)).isoformat(), "until": today.isoformat()}


def test_throttling_is_backed_off_then_succeeds(meta, workspace, slept):
    _seed(meta)
    meta.throttle_next(code=17, times=1, regain_minutes=2)
    meta.throttle_next(code=4, times=1, regain_minutes=0)
    meta.throttle_next(code=80004, times=1, regain_minutes=0)

    _sync(since=date(2026, 11, 1), until=date(2026, 11, 2))

    assert len(slept) == 3
    assert slept[0] == 120  # estimated_time_to_regain_access (minutes) honoured …
    assert all(0 < s <= 300 for s in slept)  # … and every wait capped
    assert AdInsight.objects.count() == 3
    assert [r.faulted for r in meta.requests] == [True, True, True, False]


def test_throttling_that_does_not_end_fails_after_bounded_attempts(meta, workspace, slept):
    meta.throttle_next(code=613, times=50, regain_minutes=60)
    with pytest.raises(SyncFailed, match=r"Meta kept throttling after 6 attempts.*code 613.*rate limit"):
        _sync(since=date(2026, 11, 1), until=date(2026, 11, 1))
    assert len(meta.requests) == 6 and len(slept) == 5
    assert all(s == 300 for s in slept)  # an hour's estimate is capped at the client's max wait
    assert "613" in SyncState.objects.get(workspace=workspace, source="meta").last_error


def test_an_insights_timeout_splits_the_range(meta, workspace, slept):
    _seed(meta)
    meta.throttle_next(code=100, subcode=1504018, times=1)
    _sync(since=date(2026, 11, 1), until=date(2026, 11, 2))
    ranges = [json.loads(r.query["time_range"]) for r in meta.requests]
    assert ranges == [{"since": "2026-11-01", "until": "2026-11-02"}, {"since": "2026-11-01", "until": "2026-11-01"},
                      {"since": "2026-11-02", "until": "2026-11-02"}]
    assert AdInsight.objects.count() == 3 and not slept


def test_other_graph_errors_raise_with_metas_message(meta, workspace, monkeypatch):
    monkeypatch.setenv("META_AD_ACCOUNT_ID", "999")
    with pytest.raises(SyncFailed, match=r"code 100/33\): Unsupported get request. Object with ID 'act_999'"):
        _sync(since=date(2026, 11, 1), until=date(2026, 11, 1))


def _run_command(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "sync_meta_insights", *argv]).execute()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("SyncFailed") or line.startswith("CommandError")]
    return exit_info.value.code, lines, err


@pytest.mark.django_db(transaction=True)
def test_rejected_token_is_one_line_and_a_non_zero_exit(meta, workspace, monkeypatch, capsys):
    monkeypatch.setenv("META_ACCESS_TOKEN", "expired-token")
    code, lines, err = _run_command(capsys, "--since", "2026-11-01", "--until", "2026-11-01")
    assert code != 0
    assert len(lines) == 1 and "Traceback" not in err
    assert "Meta rejected the access token (Invalid OAuth access token" in lines[0]
    assert "expired-token" not in err
    state = SyncState.objects.get(workspace=workspace, source="meta")
    assert state.last_error.startswith("Meta rejected the access token") and state.last_success_at is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("missing", ["META_ACCESS_TOKEN", "META_AD_ACCOUNT_ID"])
def test_missing_credentials_are_one_line_and_a_non_zero_exit(meta, workspace, monkeypatch, capsys, missing):
    monkeypatch.delenv(missing)
    code, lines, err = _run_command(capsys)
    assert code != 0
    assert len(lines) == 1 and "Traceback" not in err
    assert "is not configured for workspace ptd: set " + missing in lines[0]
    assert not meta.requests


def test_the_hourly_task_syncs_configured_workspaces_only(meta, workspace, other_workspace):
    from marketing.tasks import sync_meta_insights

    meta.add_insight(timezone.localdate().isoformat(), ad_id=AD1, spend="10", impressions=100)
    summary = sync_meta_insights()
    assert summary.startswith("ptd: ") and "1 rows" in summary
    assert not SyncState.objects.filter(workspace=other_workspace).exists()
    assert AdInsight.objects.filter(workspace=workspace).count() == 1


def test_stored_insights_are_announced_after_commit(meta, workspace, django_capture_on_commit_callbacks):
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from ptd.live import workspace_group

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(workspace_group(workspace.pk), channel)

    async def receive():
        return await asyncio.wait_for(layer.receive(channel), timeout=2)

    _seed(meta)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _sync(since=date(2026, 11, 1), until=date(2026, 11, 2))
        assert layer.channels.get(channel) is None or layer.channels[channel].empty()  # nothing before commit
    assert callbacks
    assert async_to_sync(receive)() == {"type": "changed", "topics": ["ad_insights"]}


def test_upsert_is_set_based(workspace, django_assert_max_num_queries):
    from marketing.services import ad_insights_upsert

    rows = [meta_graph.parse_insight_row({
        "date_start": f"2026-11-{day:02d}", "campaign_id": f"9{n % 3}", "campaign_name": "C", "adset_id": f"5{n % 7}",
        "adset_name": "S", "ad_id": f"1{n}", "ad_name": "A", "spend": "1.5", "impressions": "10"})
        for n in range(40) for day in (1, 2, 3)]
    with django_assert_max_num_queries(9):  # 4 upserts and 3 id reads, whatever the row count (+ savepoint)
        assert ad_insights_upsert(workspace=workspace, rows=rows) == 120
    assert AdInsight.objects.count() == 120 and Ad.objects.count() == 40 and Campaign.objects.count() == 3


def test_network_errors_are_retried_and_never_reveal_the_token(workspace, monkeypatch, slept):
    monkeypatch.setenv("META_GRAPH_BASE", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("META_AD_ACCOUNT_ID", ACCOUNT)
    with pytest.raises(SyncFailed, match="network error") as failure:
        _sync(since=date(2026, 11, 1), until=date(2026, 11, 1))
    assert TOKEN not in str(failure.value)
    assert TOKEN not in SyncState.objects.get(workspace=workspace, source="meta").last_error
    assert len(slept) == 5
