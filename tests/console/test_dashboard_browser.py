"""The dashboard in a real browser: headless Debian chromium (`/usr/bin/chromium`, driven by
Playwright; no browser is downloaded) against a running `voicebot serve` whose campaign calls
are real SIP calls on loopback (`console_site`). What an operator sees: a wrong token refused,
a campaign created from a CSV upload and started, its calls appearing on the live page while
they run (Server-Sent Events), the campaign's progress bar and dispositions, the calls list,
one call's transcript, quality findings and recording (played), the workers' health; a viewer
refused a change. Screenshots are kept in build/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_site import ROOT, Running, contacts_csv, running  # noqa: F401 (fixture)
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = [pytest.mark.sip, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "build" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        # the recording is played without a click on the page (the test calls play())
        args = ["--autoplay-policy=no-user-gesture-required"]
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield b
        b.close()


def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, site: Running, token: str) -> None:
    page.goto(f"{site.url}/")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")


def test_a_wrong_token_is_refused(running: Running, browser: Browser) -> None:  # noqa: F811
    page = browser.new_page()
    sign_in(page, running, "vb_not-a-real-token")
    expect(page.locator("#login-error")).to_have_text("That token is not valid.")
    expect(page.locator("#page-campaigns")).to_be_hidden()
    expect(page.locator("#who")).to_have_text("")
    assert page.evaluate("localStorage.getItem('voicebot-token')") is None
    shot(page, "wrong-token")
    page.close()


def test_an_operator_runs_a_campaign_and_watches_its_calls(
    running: Running,  # noqa: F811
    browser: Browser,
) -> None:
    site = running
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, site, site.tokens["operator"])
    expect(page.locator("#who")).to_have_text("t-operator (operator)")
    expect(page.locator("#page-campaigns")).to_be_visible()
    # the flows to choose from: the flow itself, not its tests or quality rules
    options = page.locator("#campaign-flow option")
    expect(options).to_have_count(1)
    expect(options).to_have_text(["leave_message.yaml"])

    # a campaign from a CSV upload: two humans who answer "yes" (tens digit 5), a bad row
    csv = contacts_csv([("+12125550153", "Pat"), ("not a number", "Sam"), ("+12125550154", "Lee")])
    page.fill("#campaign-form [name=name]", "browser")
    page.select_option("#campaign-flow", "leave_message.yaml")
    upload = {"name": "people.csv", "mimeType": "text/csv", "buffer": csv}
    page.set_input_files("#campaign-form [name=contacts]", files=[upload])
    page.fill("#campaign-form [name=cps]", "2")
    page.click("#campaign-form button[type=submit]")
    report = page.locator("#campaign-report")
    expect(report).to_contain_text("campaign browser created: 2 contact(s)")
    expect(report).to_contain_text("1 row(s) rejected of 3")
    expect(report).to_contain_text("people.csv:3:")  # the bad row, at its line
    row = page.locator('tr[data-campaign="browser"]')
    expect(row).to_have_attribute("data-state", "created")
    expect(row).to_contain_text("1/3")  # the rejected row is done: it will never be called
    shot(page, "campaign-created")

    # the live page, open before the campaign starts, receives its calls as they happen
    live = context.new_page()
    live.goto(f"{site.url}/#live")
    expect(live.locator("#live-state")).to_have_text("connected")
    row.locator('button[data-action="start"]').click()
    expect(row).to_have_attribute("data-state", re.compile("running|finished"))
    first = live.locator(".livecall").first
    expect(first).to_contain_text("outbound", timeout=60_000)
    expect(first.locator("li.bot").first).to_contain_text("Do you have a moment", timeout=60_000)
    # the first question comes early in a call of ~20 s: the call is still on
    expect(first.locator(".live-outcome")).to_have_text("in progress")
    shot(live, "live-call")

    # the campaign finishes: its progress bar full, its dispositions charted
    expect(row).to_have_attribute("data-state", "finished", timeout=180_000)
    expect(row).to_contain_text("3/3")
    chart = row.locator("svg.dispositions")
    expect(chart).to_have_attribute("aria-label", "completed 2, rejected 1")
    widths = chart.locator("rect").evaluate_all("rs => rs.map(r => r.getAttribute('width'))")
    assert [round(float(w)) for w in widths] == [173, 87]  # 2/3 and 1/3 of 260 px
    fills = chart.locator("rect").evaluate_all("rs => rs.map(r => r.getAttribute('fill'))")
    assert fills == ["#1e7b34", "#bbb"]  # completed green, rejected grey: on every chart
    expect(row.locator(".bar > div")).to_have_attribute("style", "width:100%")
    shot(page, "campaign-finished")
    calls_live = live.locator(".livecall")
    expect(calls_live).to_have_count(2)
    expect(live.locator(".livecall.ended .live-outcome")).to_have_text(["completed", "completed"])
    said_yes = live.locator(".livecall li.caller .said").filter(
        has_text=re.compile(r"\byes\b", re.I)
    )
    expect(said_yes.first).to_be_visible()
    live.close()

    # the calls list, searched by number; one call's transcript, quality and recording
    page.click('nav a[data-page="calls"]')
    page.fill("#call-search [name=number]", "5550153")
    page.click("#call-search button[type=submit]")
    rows = page.locator("#call-rows tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".outcome")).to_have_text("completed")
    expect(rows.first).to_contain_text("leave_message")
    expect(page.locator("#calls-page")).to_have_text("1-1 of 1")
    expect(page.locator("#retention")).to_contain_text("retention: keep forever")
    rows.first.click()
    expect(page.locator("#page-call")).to_be_visible()
    expect(page.locator("#call-turns li.bot").first).to_contain_text(
        "Hello Pat. Do you have a moment?"
    )
    yes = page.locator("#call-turns li.caller .said").filter(has_text=re.compile(r"\byes\b", re.I))
    expect(yes.first).to_be_visible()
    expect(page.locator("#call-turns li.bot").last).to_contain_text("Thank you. Goodbye.")
    expect(page.locator("#call-facts")).to_contain_text("completed")
    expect(page.locator("#call-slots")).to_contain_text('"moment": true')
    # scored when the call ended (the rules beside the flow): the missing disclosure flagged
    for _ in range(20):
        if "score" in page.locator("#call-quality").inner_text():
            break
        page.reload()
        page.wait_for_timeout(500)
    # two rules of weight 20, one broken: 50
    expect(page.locator("#call-quality")).to_contain_text("score 50/100 by leave_message.qa.yaml")
    finding = page.locator('#call-findings tr[data-rule="disclosure"]')
    expect(finding).to_contain_text("broken")
    expect(page.locator('#call-findings tr[data-rule="no_promises"]')).to_have_count(0)
    # the recording: the player gets the WAV and plays it
    audio = page.locator("#recording")
    expect(audio).to_be_attached()
    page.wait_for_function("document.getElementById('recording').readyState >= 1")
    duration = page.evaluate("document.getElementById('recording').duration")
    assert 0.5 < duration <= 7.0, duration  # the record step keeps at most 6 s
    page.evaluate("document.getElementById('recording').play()")
    page.wait_for_function("document.getElementById('recording').currentTime > 0.2")
    shot(page, "call")

    # the workers' health
    page.click('nav a[data-page="workers"]')
    worker = page.locator('tr[data-worker="w1"]')
    expect(worker.locator("td.ok")).to_have_text("healthy")
    shot(page, "workers")
    context.close()


def test_a_viewer_sees_but_may_not_change(running: Running, browser: Browser) -> None:  # noqa: F811
    page = browser.new_page()
    sign_in(page, running, running.tokens["viewer"])
    expect(page.locator("#who")).to_have_text("t-viewer (viewer)")
    csv = contacts_csv([("+12125550155", "Kim")])
    page.fill("#campaign-form [name=name]", "not-mine")
    page.set_input_files(
        "#campaign-form [name=contacts]",
        files=[{"name": "kim.csv", "mimeType": "text/csv", "buffer": csv}],
    )
    page.click("#campaign-form button[type=submit]")
    expect(page.locator("#campaign-report")).to_contain_text("needs the role operator")
    expect(page.locator('tr[data-campaign="not-mine"]')).to_have_count(0)
    page.click("#sign-out")
    expect(page.locator("#login-error")).to_have_text("Signed out.")
    page.close()
