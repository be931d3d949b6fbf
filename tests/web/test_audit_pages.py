"""The audit dashboard pages, as a person sees them in headless Chromium.

The credit scenario runs once per module (12 decisions, one anchored batch) and
one server serves every test; the pages only read, so tests cannot disturb
each other.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time

import pytest
import uvicorn

from ailedger.api import create_app
from ailedger.api.audit import AuditOptions
from ailedger.audit import (
    AuditedModel,
    build_proof_bundle,
    load_german_credit,
    open_decision_index,
    run_credit_scenario,
)
from ailedger.audit.german_credit import MODEL_FEATURES
from ailedger.audit.listing import open_decision_reader
from ailedger.audit.model_store import served_credit_model
from ailedger.audit.verify import CHECKS
from ailedger.config import Settings
from ailedger.core.log import TransparencyLog, open_store
from ailedger.platform import Platform

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DECISIONS = 12


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    settings = Settings(
        home=tmp_path_factory.mktemp("audit-pages") / "home",
        keystore_scrypt_n=2**4,
        password="test-password",
    )
    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
        log = platform.open_log("decisions")
        try:
            summary = run_credit_scenario(
                settings, platform.chain, log, n_applications=DECISIONS, operator=platform.operator
            )
        finally:
            log.close()
    return settings, summary


@pytest.fixture(scope="module")
def server(scenario):
    settings, _ = scenario
    app = create_app(settings)
    app.state.audit_options = AuditOptions(poll_seconds=None)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the API server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def bundle(scenario) -> dict:
    settings, summary = scenario
    with open_decision_reader(settings) as (log, index):
        return build_proof_bundle(summary.example_decision_id, log, index)


def _verify_in_form(page, server: str, text: str) -> None:
    page.goto(server + "/ui/audit/verify")
    page.fill("#bundle", text)
    page.click("#verify-button")
    page.wait_for_selector("#verdict-title")


def test_decisions_page_lists_every_decision_with_an_explanation_chart(server, page):
    page.goto(server + "/ui/audit/decisions")
    rows = page.locator("#decisions tbody tr")
    assert rows.count() == DECISIONS
    assert page.locator("#decision-total").inner_text() == str(DECISIONS)
    first = rows.first
    assert first.locator("figure.contrib svg rect").count() == 5
    assert first.locator(".outcome").inner_text() in ("approve", "deny")
    assert "anchored" in first.locator(".anchored").inner_text()


def test_decisions_page_lists_newest_first(server, page):
    page.goto(server + "/ui/audit/decisions")
    entries = [
        int(n) for n in page.locator("#decisions tbody tr td:nth-child(6)").all_inner_texts()
    ]
    assert entries == list(range(DECISIONS - 1, -1, -1))


def test_explanation_bars_say_which_way_each_feature_pushed(server, page, bundle):
    decision_id = bundle["record"]["decision_id"]
    contributions = bundle["record"]["explanation"]["contributions"]
    page.goto(server + f"/ui/audit/decisions/{decision_id}")
    bars = page.locator("figure.contrib g.bar")
    assert bars.count() == len(contributions)
    for i in range(bars.count()):
        bar = bars.nth(i)
        feature = bar.get_attribute("data-feature")
        expected = "raises" if contributions[feature] >= 0 else "lowers"
        assert bar.locator("rect").get_attribute("class") == expected


def test_decision_page_shows_the_record_and_its_anchor(server, page, scenario, bundle):
    _, summary = scenario
    decision_id = summary.example_decision_id
    page.goto(server + "/ui/audit/decisions")
    page.click(f"tr[data-decision-id='{decision_id}'] a")
    page.wait_for_selector("#record")
    assert decision_id in page.locator("#record").inner_text()
    assert page.locator("#outcome").inner_text() == bundle["record"]["output"]
    assert page.locator("#anchor-tx").inner_text() == summary.anchor_tx
    assert "✓" in page.locator("#anchored").inner_text()


def test_unknown_decision_page_is_not_found(server, page):
    response = page.goto(server + "/ui/audit/decisions/" + "ab" * 32)
    assert response.status == 404
    assert "no decision" in page.locator("#not-found").inner_text()


def test_heads_page_shows_the_anchor_transaction(server, page, scenario):
    _, summary = scenario
    page.goto(server + "/ui/audit/heads")
    assert page.locator("#log-size").inner_text() == str(DECISIONS)
    assert page.locator("#anchored-count").inner_text() == "1"
    assert page.locator("#unanchored").inner_text() == "0"
    [row] = page.locator("#heads tbody tr").all()
    assert row.locator(".tree-size").inner_text() == str(summary.tree_size)
    assert row.locator(".tx-hash").inner_text() == summary.anchor_tx
    assert row.locator(".block").inner_text() == str(summary.anchor_block)
    bar = page.locator("figure[aria-label^='Decisions per anchored batch'] rect")
    assert bar.count() == 1


def test_verify_form_shows_verified_for_a_good_bundle(server, page, bundle):
    _verify_in_form(page, server, json.dumps(bundle))
    assert page.locator("#verdict-title").inner_text() == "✓ VERIFIED"
    checks = page.locator("#checks tbody tr")
    assert checks.count() == len(CHECKS)
    assert page.locator("#checks tr.failed").count() == 0


def test_verify_form_shows_not_verified_and_why_for_a_tampered_bundle(server, page, bundle):
    tampered = copy.deepcopy(bundle)
    tampered["record"]["score"] = 0.999 if tampered["record"]["score"] < 0.5 else 0.001
    tampered["record"]["output"] = tampered["record"]["policy"][
        "positive" if tampered["record"]["score"] > 0.5 else "negative"
    ]
    _verify_in_form(page, server, json.dumps(tampered))
    assert page.locator("#verdict-title").inner_text() == "✗ NOT VERIFIED"
    reason = page.locator("#verdict-reason").inner_text()
    assert reason.startswith("leaf_hash: the record was altered")
    assert page.locator("#checks tr.failed td:nth-child(2)").inner_text() == "leaf_hash"
    # It stops at the first failure: format, record, leaf_hash ran.
    assert page.locator("#checks tr.not-run").count() == len(CHECKS) - 3


def test_verify_form_shows_not_verified_for_text_that_is_not_json(server, page):
    _verify_in_form(page, server, "{this is not a bundle")
    assert page.locator("#verdict-title").inner_text() == "✗ NOT VERIFIED"
    assert "not JSON" in page.locator("#verdict-reason").inner_text()


def _verdict_after_clicking(page, button: str) -> str:
    page.click(button)
    page.wait_for_selector("#verdict-title")
    return page.locator("#verdict-title").inner_text()


def test_verify_button_on_a_decision_page_verifies_its_proof(server, page, bundle):
    page.goto(server + f"/ui/audit/decisions/{bundle['record']['decision_id']}")
    assert _verdict_after_clicking(page, "#verify-this") == "✓ VERIFIED"


def test_navigation_links_to_the_audit_pages(server, page):
    page.goto(server + "/")
    page.click("nav >> text=Anchors")
    page.wait_for_selector("#heads")
    page.click("nav >> text=Verify")
    page.wait_for_selector("#verify-form")
    page.click("nav >> text=Decisions")
    page.wait_for_selector("#decisions")


def test_decision_not_yet_anchored_is_shown_pending(deployed_settings, live_server, page):
    # Logged without an anchorer: appended and durable, in no anchored tree head yet.
    trained = served_credit_model(deployed_settings)
    application = load_german_credit().features[list(MODEL_FEATURES)].iloc[0].to_dict()
    log = TransparencyLog(open_store(deployed_settings, name="decisions"))
    with open_decision_index(deployed_settings) as index:
        audited = AuditedModel(
            trained.estimator,
            trained.card,
            log,
            operator="0x" + "11" * 20,
            threshold=0.6,
            index=index,
        )
        decision = audited.decide(application)[0]
    log.close()

    page.goto(live_server + "/ui/audit/decisions")
    assert "pending" in page.locator("#decisions tbody tr .anchored").inner_text()
    page.goto(live_server + f"/ui/audit/decisions/{decision.record.decision_id}")
    assert "pending" in page.locator("#anchored").inner_text()
    page.goto(live_server + "/ui/audit/heads")
    assert page.locator("#unanchored").inner_text() == "1"
    assert page.locator("#no-heads").is_visible()


def test_pages_say_when_nothing_is_logged_yet(live_server, page):
    page.goto(live_server + "/ui/audit/decisions")
    assert "No decisions logged yet" in page.locator("#no-decisions").inner_text()
    page.goto(live_server + "/ui/audit/heads")
    assert page.locator("#log-size").inner_text() == "0"
    assert page.locator("#no-heads").is_visible()


def test_decisions_page_pages_through_older_decisions(server, page):
    page.goto(server + "/ui/audit/decisions?limit=5")
    assert "page 1 of 3" in page.locator("#pager-top").inner_text()
    leaf = "#decisions tbody tr td:nth-child(6)"
    assert [int(n) for n in page.locator(leaf).all_inner_texts()] == [11, 10, 9, 8, 7]
    page.click("#pager-top a[rel=next]")
    page.wait_for_selector("#pager-top >> text=page 2 of 3")
    assert [int(n) for n in page.locator(leaf).all_inner_texts()] == [6, 5, 4, 3, 2]
    page.click("#pager-bottom a[rel=last]")
    page.wait_for_selector("#pager-top >> text=page 3 of 3")
    assert [int(n) for n in page.locator(leaf).all_inner_texts()] == [1, 0]


def test_decisions_page_finds_a_decision_by_the_start_of_its_id(server, page, scenario):
    _, summary = scenario
    decision_id = summary.example_decision_id
    page.goto(server + "/ui/audit/decisions")
    page.fill("#q", decision_id[:10].upper())
    page.click("#decision-search button")
    page.wait_for_selector("#clear-search")
    rows = page.locator("#decisions tbody tr")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-decision-id") == decision_id


def test_decisions_search_for_text_that_is_not_hex_says_so(server, page):
    page.goto(server + "/ui/audit/decisions?q=not-an-id")
    assert "not" in page.locator("#search-error").inner_text()


def test_verify_form_accepts_an_uploaded_bundle_file(server, page, bundle, tmp_path):
    bundle_file = tmp_path / "proof.json"
    bundle_file.write_text(json.dumps(bundle))
    page.goto(server + "/ui/audit/verify")
    page.set_input_files("#bundle-file", str(bundle_file))
    assert _verdict_after_clicking(page, "#verify-button") == "✓ VERIFIED"


def test_verify_form_submitted_empty_says_what_to_do(server, page):
    page.goto(server + "/ui/audit/verify")
    assert _verdict_after_clicking(page, "#verify-button") == "✗ NOT VERIFIED"
    reason = page.locator("#verdict-reason").inner_text()
    assert reason.startswith("nothing to verify: paste a proof bundle or choose a file")
    assert "JSON" not in reason


def test_a_form_posted_from_another_page_is_refused_with_403(server, page, bundle):
    # The attack of issue 9: any web page the operator opens posts to the local dashboard.
    page.goto(server + "/ui/audit/verify")  # the operator has the dashboard's cookie
    page.set_content(
        f'<form method="post" action="{server}/ui/audit/verify" id="evil">'
        f'<textarea name="bundle">{json.dumps(bundle)}</textarea>'
        '<input name="csrf_token" value="' + "x" * 43 + '"><button>go</button></form>'
    )
    with page.expect_response(lambda response: "/ui/audit/verify" in response.url) as answer:
        page.click("#evil button")
    assert answer.value.status == 403


@pytest.mark.parametrize(
    "headers",
    [{"origin": "http://evil.example"}, {"referer": "http://evil.example/page"}, {}],
    ids=["other-origin", "other-referer", "no-token"],
)
def test_verify_post_without_our_token_or_from_another_origin_is_403(server, headers, bundle):
    import httpx

    answer = httpx.post(
        server + "/ui/audit/verify", data={"bundle": json.dumps(bundle)}, headers=headers
    )
    assert answer.status_code == 403
    assert "VERIFIED" not in answer.text.replace("NOT VERIFIED", "")
