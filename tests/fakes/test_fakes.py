"""The fakes, driven through the real client libraries (no database needed)."""

import json
import time

import hubspot
import pytest
import requests
import stripe
import urllib3
from hubspot import HubSpot
from urllib3.util.retry import Retry

from tests.fakes import FakeCallGear, FakeHubSpot, FakeMetaGraph, FakeServer, FakeStripe, Response, make_event, \
    signed_event
from tests.fakes.server import route


# ---------------------------------------------------------------------------------------------- server
class Echo(FakeServer):
    @route("GET", r"/echo/(?P<word>\w+)")
    def echo(self, req, word):
        return Response(200, {"word": word, "q": req.query})

    @route("POST", r"/boom")
    def boom(self, req):
        raise RuntimeError("bug in a fake")


def test_server_records_requests_and_scripted_faults():
    with Echo() as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        srv.fail_next(503, headers={"Retry-After": "2"}, body={"down": True}, times=2, path_prefix="/echo/b")
        assert requests.get(f"{srv.url}/echo/a?x=1&x=2").json() == {"word": "a", "q": {"x": "2"}}
        first = requests.get(f"{srv.url}/echo/b")
        assert (first.status_code, first.headers["Retry-After"], first.json()) == (503, "2", {"down": True})
        assert requests.get(f"{srv.url}/echo/b").status_code == 503
        assert requests.get(f"{srv.url}/echo/b").status_code == 200  # fault used up
        assert requests.post(f"{srv.url}/boom", json={"k": 1}).status_code == 500
        assert requests.get(f"{srv.url}/nowhere").status_code == 404

        a, b1 = srv.requests[0], srv.requests[1]
        assert (a.method, a.path, a.query_lists) == ("GET", "/echo/a", {"x": ["1", "2"]})
        assert b1.faulted and not a.faulted
        assert srv.requests[4].json == {"k": 1} and srv.requests[4].headers["content-type"] == "application/json"
        assert len(srv.errors) == 1 and "bug in a fake" in srv.errors[0]
    with pytest.raises(RuntimeError):
        srv.url  # stopped


# ---------------------------------------------------------------------------------------------- stripe
def _stripe(fs, **kw):
    return stripe.StripeClient("sk_test_x", base_addresses={"api": fs.url}, max_network_retries=kw.pop("retries", 0),
                               **kw)


def test_stripe_auto_paging_lists_every_charge_newest_first():
    with FakeStripe(api_key="sk_test_x") as fs:
        made = [fs.add_charge(1000 + i, created=1_700_000_000 + i) for i in range(25)]
        client = _stripe(fs)
        got = list(client.v1.charges.list({"limit": 10}).auto_paging_iter())

        assert [c.id for c in got] == [c["id"] for c in reversed(made)]
        assert got[0].amount == 1024 and got[0].currency == "aed" and isinstance(got[0], stripe.Charge)
        pages = fs.requests_to("/v1/charges")
        assert len(pages) == 3
        assert pages[1].query == {"limit": "10", "starting_after": got[9].id}
        assert pages[0].headers["Authorization"] == "Bearer sk_test_x"
        assert not fs.errors


def test_stripe_filters_expand_and_ending_before():
    with FakeStripe() as fs:
        cus = fs.add_customer(email="Ann@Example.com", name="Ann", created=1_700_000_000)
        pis = [fs.add_payment(5000 * (i + 1), customer=cus["id"], created=1_700_000_100 + i)[0] for i in range(4)]
        fs.add_payment(999, created=1_700_000_200, succeeded=False)
        client = _stripe(fs)

        window = client.v1.charges.list({"created": {"gte": 1_700_000_101, "lt": 1_700_000_103}})
        assert [c.amount for c in window.data] == [15000, 10000] and window.has_more is False

        mine = client.v1.charges.list({"customer": cus["id"], "expand": ["data.customer"], "limit": 100})
        assert len(mine.data) == 4 and mine.data[0].customer.email == "Ann@Example.com"
        assert mine.data[0].payment_intent == pis[-1]["id"]

        newer = client.v1.payment_intents.list({"ending_before": pis[0]["id"], "limit": 2})
        assert [p.id for p in newer.data] == [pis[2]["id"], pis[1]["id"]] and newer.has_more

        pi = client.v1.payment_intents.retrieve(pis[0]["id"], {"expand": ["latest_charge.balance_transaction"]})
        assert pi.latest_charge.object == "charge" and pi.latest_charge.amount == 5000
        txn = pi.latest_charge.balance_transaction
        assert (txn.object, txn.fee, txn.net, txn.source) == ("balance_transaction", 245, 4755, pi.latest_charge.id)

        fs.add_refund(pi.latest_charge.id, 2000)
        charge = client.v1.charges.retrieve(pi.latest_charge.id)
        assert (charge.amount_refunded, charge.refunded) == (2000, False)
        assert client.v1.customers.list({"email": "ann@example.com"}).data[0].id == cus["id"]


def test_stripe_subscriptions_invoices_disputes_payouts():
    with FakeStripe() as fs:
        cus = fs.add_customer(email="b@example.com")
        active = fs.add_subscription(cus["id"], amount=120000)
        fs.add_subscription(cus["id"], status="canceled", canceled_at=1_700_000_000)
        pi, ch = fs.add_payment(120000, customer=cus["id"])
        inv = fs.add_invoice(cus["id"], 120000, subscription=active["id"], payment_intent=pi["id"])
        fs.add_dispute(ch["id"])
        fs.add_payout(500000)
        client = _stripe(fs)

        assert [s.id for s in client.v1.subscriptions.list()] == [active["id"]]  # canceled hidden by default
        assert len(client.v1.subscriptions.list({"status": "all"}).data) == 2
        sub = client.v1.subscriptions.retrieve(active["id"])
        assert sub["items"].data[0].price.unit_amount == 120000 and sub.latest_invoice == inv["id"]

        got = client.v1.invoices.list({"subscription": active["id"], "expand": ["data.payments"]}).data[0]
        assert got.parent.subscription_details.subscription == active["id"]
        assert got.payments.data[0].payment.payment_intent == pi["id"]
        assert "payments" not in client.v1.invoices.retrieve(inv["id"])

        dispute = client.v1.disputes.list().data[0]
        assert (dispute.charge, dispute.amount, dispute.reason) == (ch["id"], 120000, "fraudulent")
        assert client.v1.charges.retrieve(ch["id"]).disputed is True
        assert client.v1.payouts.list().data[0].status == "paid"


def test_stripe_errors_auth_not_found_rate_limit():
    with FakeStripe() as fs:
        fs.add_charge(100)
        with pytest.raises(stripe.InvalidRequestError) as missing:
            _stripe(fs).v1.charges.retrieve("ch_nope")
        assert missing.value.code == "resource_missing" and missing.value.http_status == 404
        with pytest.raises(stripe.InvalidRequestError, match="unknown parameter"):
            _stripe(fs).v1.charges.list({"colour": "red"})
        with pytest.raises(stripe.AuthenticationError):
            stripe.StripeClient("sk_test_wrong", base_addresses={"api": fs.url},
                                max_network_retries=0).v1.charges.list()

        client = _stripe(fs, retries=2)
        fs.clear_requests()
        fs.rate_limit_next()
        with pytest.raises(stripe.RateLimitError):  # stripe-python never retries a plain 429
            client.v1.charges.list()
        assert len(fs.requests) == 1

        fs.rate_limit_next(should_retry=True)
        assert len(client.v1.charges.list().data) == 1
        assert [r.faulted for r in fs.requests[1:]] == [True, False]


def test_stripe_webhook_signature_helpers():
    # integrations.md test vector S1
    payload = ('{"id":"evt_test_1","object":"event","type":"charge.succeeded","data":{"object":{"id":"ch_1",'
               '"object":"charge","amount":12345,"currency":"aed"}}}')
    body, header = signed_event(payload, "whsec_test_secret", timestamp=1700000000)
    assert header == "t=1700000000,v1=2e0d6676bedb2e732f2f98a906c8dcd2e3589792a42a44d341e1577de150cdd5"
    assert body == payload.encode()

    with FakeStripe() as fs:
        charge = fs.add_charge(12345)
    event = make_event("charge.succeeded", charge, event_id="evt_1")
    body, header = signed_event(event, "whsec_abc")
    parsed = stripe.Webhook.construct_event(body, header, "whsec_abc")  # default 300 s tolerance
    assert (parsed.id, parsed.type, parsed.data.object.amount) == ("evt_1", "charge.succeeded", 12345)
    assert "previous_attributes" not in event["data"]
    updated = make_event("customer.subscription.updated", {"id": "sub_1", "object": "subscription"},
                         previous_attributes={"status": "trialing"})
    assert updated["data"]["previous_attributes"] == {"status": "trialing"}
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_other")


# ---------------------------------------------------------------------------------------------- hubspot
def _hubspot(hs, token="pat-test"):
    return HubSpot(access_token=token, host=hs.url,
                   retry=Retry(total=3, status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None,
                               respect_retry_after_header=True, backoff_factor=0.1))


def test_hubspot_get_page_follows_paging():
    with FakeHubSpot(token="pat-test") as hs:
        ids = [hs.add_contact(email=f"c{i}@example.com", phone=f"+97150000000{i}")["id"] for i in range(7)]
        api = _hubspot(hs)
        seen, after = [], None
        while True:
            page = api.crm.contacts.basic_api.get_page(limit=3, properties=["email", "phone"], after=after)
            seen += page.results
            if not page.paging or not page.paging.next:
                break
            after = page.paging.next.after
        assert [c.id for c in seen] == ids
        assert seen[0].properties["phone"] == "+971500000000" and seen[0].properties["hs_object_id"] == ids[0]
        first = hs.requests[0]
        assert first.path == "/crm/v3/objects/contacts" and first.query_lists["properties"] == ["email", "phone"]
        assert first.headers["Authorization"] == "Bearer pat-test" and len(hs.requests) == 3
        assert not hs.errors


def test_hubspot_search_windows_by_lastmodified_and_stops_at_cap():
    with FakeHubSpot(token="pat-test", search_result_cap=4) as hs:
        base = 1_700_000_000_000
        deals = [hs.add_deal(dealname=f"D{i}", amount="1500.50", updated=base + i * 1000) for i in range(6)]
        hs.update("deals", deals[0]["id"], {"dealstage": "closedwon"}, updated=base + 10_000)
        api = _hubspot(hs)

        def search(gte, lt, after=None, limit=2):
            return api.crm.deals.search_api.do_search(public_object_search_request={
                "filterGroups": [{"filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(gte)},
                    {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": str(lt)}]}],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["dealname", "amount", "dealstage"], "limit": limit, "after": after})

        res = search(base + 2000, base + 20_000)
        assert res.total == 5 and [d.properties["dealname"] for d in res.results] == ["D2", "D3"]
        assert res.paging.next.after == "2"
        last = search(base + 2000, base + 20_000, after="2")
        assert [d.properties["dealname"] for d in last.results] == ["D4", "D5"]
        assert last.results[0].properties["amount"] == "1500.50"
        with pytest.raises(hubspot.crm.deals.ApiException) as too_far:  # after + limit passes the cap
            search(base + 2000, base + 20_000, after="4")
        assert too_far.value.status == 400 and json.loads(too_far.value.body)["category"] == "VALIDATION_ERROR"
        newest = search(base + 6000, base + 20_000)
        assert [(d.id, d.properties["dealstage"]) for d in newest.results] == [(deals[0]["id"], "closedwon")]
        assert "T" in newest.results[0].properties["hs_lastmodifieddate"]  # ISO, as HubSpot sends it


def test_hubspot_retries_429_after_retry_after():
    with FakeHubSpot(token="pat-test") as hs:
        hs.add_contact(email="a@example.com")
        hs.rate_limit_next(retry_after=1)
        started = time.monotonic()
        page = _hubspot(hs).crm.contacts.basic_api.get_page(limit=10)
        assert time.monotonic() - started >= 0.9
        assert len(page.results) == 1 and [r.faulted for r in hs.requests] == [True, False]

        hs.clear_requests()
        hs.fail_next(429, headers={"Retry-After": "0"}, times=5)
        with pytest.raises(urllib3.exceptions.MaxRetryError):  # urllib3 gives up after total=3 retries
            _hubspot(hs).crm.contacts.basic_api.get_page(limit=10)
        assert len(hs.requests) == 4
        raw = requests.get(f"{hs.url}/crm/v3/objects/contacts", headers={"Authorization": "Bearer pat-test"})
        assert raw.status_code == 429 and raw.json()["policyName"] == "TEN_SECONDLY_ROLLING"
        assert raw.json()["errorType"] == "RATE_LIMIT"


def test_hubspot_auth_batch_owners_pipelines_associations():
    with FakeHubSpot(token="pat-test") as hs:
        contact = hs.add_contact(email="a@example.com", firstname="Ann")
        deal = hs.add_deal(dealname="PT 12 sessions", amount="6000", dealstage="closedwon")
        hs.associate("contacts", contact["id"], "deals", deal["id"])
        hs.add_owner("coach@example.com", "Sam", "Coach", id=123)
        hs.add_pipeline("7001", "Renewals", [("1234567", "New", "0.1", False), ("1234568", "Won", "1.0", True)])
        api = _hubspot(hs)

        with pytest.raises(hubspot.crm.contacts.ApiException) as denied:
            _hubspot(hs, token="wrong").crm.contacts.basic_api.get_page()
        assert denied.value.status == 401 and json.loads(denied.value.body)["category"] == "INVALID_AUTHENTICATION"

        one = api.crm.contacts.basic_api.get_by_id(contact["id"], associations=["deals"])
        assert one.associations["deals"].results[0].id == deal["id"]

        read = api.crm.contacts.batch_api.read(batch_read_input_simple_public_object_id={
            "inputs": [{"id": "a@example.com"}], "idProperty": "email", "properties": ["firstname"]})
        assert read.results[0].properties["firstname"] == "Ann"

        up = api.crm.contacts.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert={"inputs": [
            {"id": "A@example.com", "idProperty": "email", "properties": {"phone": "+971501234567"}},
            {"id": "new@example.com", "idProperty": "email", "properties": {"firstname": "New"}}]})
        assert sorted(r.new for r in up.results) == [False, True]
        assert hs.get("contacts", contact["id"])["properties"]["phone"] == "+971501234567"
        hs.reject_upsert("bad@example.com")
        partial = api.crm.contacts.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert={
            "inputs": [{"id": "bad@example.com", "idProperty": "email", "properties": {}}]})
        assert partial.num_errors == 1 and hs.requests[-1].json["inputs"][0]["id"] == "bad@example.com"
        assert len(hs.upserts["contacts"]) == 3

        owners = api.crm.owners.owners_api.get_page()
        assert owners.results[0].id == "123" and owners.results[0].email == "coach@example.com"
        pipelines = api.crm.pipelines.pipelines_api.get_all("deals").results
        assert [p.id for p in pipelines] == ["default", "7001"]
        assert pipelines[1].stages[0].id == "1234567" and pipelines[0].stages[5].metadata["isClosed"] == "true"

        assoc = api.crm.associations.v4.basic_api.get_page("contacts", contact["id"], "deals")
        assert assoc.results[0].to_object_id == deal["id"] and assoc.results[0].association_types[0].type_id == 4
        batch = api.crm.associations.v4.batch_api.get_page("deals", "contacts",
                                                           batch_input_public_fetch_associations_batch_request={
                                                               "inputs": [{"id": deal["id"]}]})
        assert batch.results[0].to[0].to_object_id == contact["id"]
        assert not hs.errors


# ---------------------------------------------------------------------------------------------- meta
def test_meta_insights_paging_and_string_numbers():
    with FakeMetaGraph(access_token="meta-token", account_id="1234") as meta:
        for day in ("2024-01-01", "2024-01-02"):
            for ad in ("120200000000000001", "120200000000000002"):
                meta.add_insight(day, ad_id=ad, spend=53.2, impressions=1000, clicks=20, reach=800,
                                 actions=[{"action_type": "lead", "value": 3, "7d_click": 2, "1d_view": 1}])
        meta.add_insight("2024-02-01", ad_id="120200000000000001", spend=1)  # outside the range
        params = {"level": "ad", "time_increment": "1",
                  "time_range": json.dumps({"since": "2024-01-01", "until": "2024-01-31"}),
                  "fields": "date_start,ad_id,ad_name,campaign_name,spend,impressions,actions",
                  "action_attribution_windows": json.dumps(["7d_click"]), "limit": "3",
                  "access_token": "meta-token"}
        rows, url, query = [], f"{meta.url}/v26.0/act_1234/insights", params
        while url:
            resp = requests.get(url, params=query)
            assert resp.status_code == 200 and "ads_insights" in resp.headers["X-Business-Use-Case-Usage"]
            rows += resp.json()["data"]
            url, query = resp.json().get("paging", {}).get("next"), None
        assert len(rows) == 4 and len(meta.requests) == 2
        assert rows[0]["spend"] == "53.2" and rows[0]["impressions"] == "1000"
        assert rows[0]["actions"] == [{"action_type": "lead", "value": "3", "7d_click": "2"}]
        assert rows[0]["date_stop"] == "2024-01-01" and "clicks" not in rows[0]
        assert rows[0]["campaign_name"].startswith("Campaign ")


def test_meta_errors_and_throttling():
    with FakeMetaGraph(access_token="meta-token", account_id="1234") as meta:
        base = f"{meta.url}/v26.0/act_1234/insights"
        ok = {"time_range": '{"since":"2024-01-01","until":"2024-01-01"}', "fields": "spend"}
        assert requests.get(base, params=ok, headers={"Authorization": "Bearer meta-token"}).json() == {"data": []}
        assert requests.get(base, params={**ok, "access_token": "nope"}).json()["error"]["code"] == 190
        assert requests.get(base, params=ok).json()["error"]["code"] == 104
        bad = requests.get(base, params={**ok, "fields": "spend,sppend", "access_token": "meta-token"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == 100
        assert requests.get(f"{meta.url}/v26.0/act_999/insights",
                            params={**ok, "access_token": "meta-token"}).json()["error"]["error_subcode"] == 33

        for code, subcode in ((17, 2446079), (4, 1504022), (613, 1487742), (80000, 2446079), (32, None)):
            meta.throttle_next(code, regain_minutes=2)
            resp = requests.get(base, params={**ok, "access_token": "meta-token"})
            err = resp.json()["error"]
            assert resp.status_code == 400 and err["code"] == code and err.get("error_subcode") == subcode
            assert err["type"] == "OAuthException" and err["is_transient"] is True and err["fbtrace_id"]
            buc = json.loads(resp.headers["X-Business-Use-Case-Usage"])
            assert buc["1234"][0]["estimated_time_to_regain_access"] == 2


# ---------------------------------------------------------------------------------------------- callgear
def _rpc(cg, params, id="req-1", method="get.calls_report"):
    body = {"jsonrpc": "2.0", "id": id, "method": method, "params": params}
    if id is None:
        del body["id"]
    resp = requests.post(cg.api_url, json=body, headers={"Content-Type": "application/json; charset=UTF-8"})
    assert resp.status_code == 200
    return resp.json()


def test_callgear_calls_report_paging_and_fields():
    with FakeCallGear(access_token="cg-token") as cg:
        for i in range(5):
            cg.add_call(start_time=f"2024-01-01 1{i}:00:00", contact_phone_number=f"97150000000{i}",
                        utm_source="facebook", campaign_name="FB Leads", is_lost=(i == 4))
        cg.add_call(start_time="2024-01-02 09:00:00")
        window = {"access_token": "cg-token", "date_from": "2024-01-01 00:00:00",
                  "date_till": "2024-01-01 23:59:59"}
        got, offset = [], 0
        while True:
            res = _rpc(cg, {**window, "limit": 2, "offset": offset})
            assert res["id"] == "req-1" and res["jsonrpc"] == "2.0"
            got += res["result"]["data"]
            offset += 2
            if offset >= res["result"]["metadata"]["total_items"]:
                break
        assert len(got) == 5 and got[0]["start_time"] == "2024-01-01 10:00:00"
        assert got[0]["employees"][0]["is_answered"] is True and got[0]["full_record_file_link"].startswith(
            "https://app.callgear.com/system/media/talk/")
        assert got[4]["is_lost"] is True and got[4]["call_records"] == [] and got[4]["site_id"] is None
        limits = res["result"]["metadata"]["limits"]
        assert limits["minute_remaining"] == 97 and set(limits) == {
            "day_limit", "day_remaining", "day_reset", "minute_limit", "minute_remaining", "minute_reset"}

        slim = _rpc(cg, {**window, "fields": ["id", "talk_duration"],
                         "filter": {"field": "is_lost", "operator": "=", "value": True}})["result"]["data"]
        assert slim == [{"id": got[4]["id"], "talk_duration": 0}]
        assert cg.requests[0].json["params"]["access_token"] == "cg-token"


def test_callgear_errors_and_limits():
    with FakeCallGear(access_token="cg-token", minute_limit=2, minute_window=1.0) as cg:
        window = {"access_token": "cg-token", "date_from": "2024-01-01 00:00:00",
                  "date_till": "2024-01-01 23:59:59"}
        wrong = _rpc(cg, {**window, "access_token": "nope"})["error"]
        assert (wrong["code"], wrong["data"]["mnemonic"]) == (-32001, "access_token_invalid")

        cg.rate_limit_next(reset=7)
        limited = _rpc(cg, window)["error"]
        assert (limited["code"], limited["data"]["mnemonic"]) == (-32029, "limit_exceeded")
        assert limited["data"]["metadata"]["limits"]["minute_reset"] == 7

        assert "result" in _rpc(cg, window) and "result" in _rpc(cg, window)
        exhausted = _rpc(cg, window)["error"]  # minute_limit=2 used up
        assert exhausted["code"] == -32029 and exhausted["data"]["metadata"]["limits"]["minute_remaining"] == 0
        time.sleep(1.0)  # the (shortened) minute window passes
        assert "result" in _rpc(cg, window)

        assert _rpc(cg, window, id=None)["error"]["data"]["mnemonic"] == "notifications_not_supported"
        assert _rpc(cg, window, method="get.nope")["error"]["code"] == -32601
        assert _rpc(cg, {**window, "date_till": "2024-06-01 00:00:00"})["error"]["data"]["mnemonic"] == \
            "date_interval_limit_reached"
        assert _rpc(cg, {**window, "fields": ["id", "fbclid"]})["error"]["data"]["mnemonic"] == "unexpected_parameters"
        assert _rpc(cg, {"access_token": "cg-token"})["error"]["data"]["field"] == "date_from"
        batch = requests.post(cg.api_url, json=[{"jsonrpc": "2.0", "id": 1, "method": "get.calls_report"}]).json()
        assert batch["error"]["code"] == -32099
        assert not cg.errors
