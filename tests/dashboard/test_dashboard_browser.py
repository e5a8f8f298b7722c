"""The dashboard at `/__mock__/` in headless Chromium (Debian's `chromium-headless-shell`, driven by
playwright) against a live `mockserver serve`: requests appear as clients make them, filters narrow them, an
entry shows what was sent and answered, and the clock, fault and reset controls act on the server.
The docs pages render offline: every request the browser makes goes to the mock itself.

The tests share one page and run in order, as one user's session would. Waits are Playwright's
auto-waiting with generous timeouts, never sleeps.
"""

from __future__ import annotations

import contextlib
import typing as t
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from clients.invokeai_ui_support import launch_chromium
from live import serve
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = pytest.mark.live

TIMEOUT_MS = 30_000
ADMIN = {"authorization": "Bearer sk-admin-mockserver"}
ROWS = "#journal-table tbody tr.entry"
POLL_MS = 1000  # the dashboard's refresh period (dashboard.js)


CONTROL_TOKEN = "let-me-in"
SERVERS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "open": (("--api", "openai_usage", "--api", "chutes", "--seed", "3"), {}),
    "guarded": (("--api", "openai_usage", "--seed", "4"), {"MOCKSERVER_CONTROL_TOKEN": CONTROL_TOKEN}),
}


def _boot(args: tuple[str, ...], env: dict[str, str]) -> tuple[contextlib.AbstractContextManager[str], str]:
    manager = serve(*args, env=env)
    return manager, manager.__enter__()


@pytest.fixture(scope="module")
def servers() -> t.Iterator[dict[str, str]]:
    """The module's two servers by name, booted side by side: each takes a second or two to start."""
    with ThreadPoolExecutor(max_workers=len(SERVERS)) as pool:
        booting = {name: pool.submit(_boot, *how) for name, how in SERVERS.items()}
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        for name, future in booting.items():
            if future.exception() is None:
                manager, urls[name] = future.result()
                stack.push(manager.__exit__)
        for future in booting.values():
            error = future.exception()
            if error is not None:
                raise error  # the servers that did start are stopped on the way out
        yield urls


@pytest.fixture(scope="module")
def base(servers: dict[str, str]) -> str:
    return servers["open"]


@pytest.fixture(scope="module")
def api(base: str) -> t.Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def errors() -> list[str]:
    return []


@pytest.fixture(scope="module")
def browser() -> t.Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            expect.set_options(timeout=TIMEOUT_MS)
            yield browser
        finally:
            browser.close()


def _open(browser: Browser, url: str) -> Page:
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.clock.install()  # the page's timers run as usual, and `_poll_now` can bring the next poll forward
    page.goto(url)
    return page


def _poll_now(page: Page) -> None:
    """What a client did elsewhere shows at the dashboard's next poll: run its clock to that poll
    now instead of waiting for it (up to a second each time)."""
    page.clock.run_for(POLL_MS)


@pytest.fixture(scope="module")
def page(base: str, browser: Browser, errors: list[str]) -> Page:
    page = _open(browser, "about:blank")
    page.on("pageerror", lambda error: errors.append(f"uncaught exception: {error}"))
    page.on("console", lambda message: errors.append(f"console: {message.text}") if message.type == "error" else None)
    page.goto(base + "/__mock__/")
    return page


@pytest.fixture(autouse=True)
def no_errors(errors: list[str]) -> t.Iterator[None]:
    yield
    assert errors == []


def _row(page: Page, path: str) -> t.Any:
    return page.locator(ROWS).filter(has=page.locator("td.path", has_text=path))


def test_requests_appear_as_clients_make_them(page: Page, api: httpx.Client) -> None:
    expect(page.locator("#server-info")).to_contain_text("seed 3")
    assert api.get("/v1/organization/costs", params={"start_time": 1_763_000_000, "limit": 2},
                   headers=ADMIN).status_code == 200
    assert api.post("/not/a/route", json={"looking": "for this"}).status_code == 404
    assert api.get("/images/").status_code == 401
    _poll_now(page)
    expect(_row(page, "/v1/organization/costs")).to_have_count(1)
    expect(_row(page, "/not/a/route")).to_have_count(1)
    expect(_row(page, "/images/")).to_have_count(1)
    expect(_row(page, "/not/a/route")).to_have_class("entry unmatched")
    expect(page.locator("#journal-count")).to_contain_text("3 shown of 3 matching")


def test_filters_narrow_the_journal(page: Page) -> None:
    page.select_option("#filter-pack", "openai_usage")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_contain_text("usage-costs")
    page.select_option("#filter-pack", "")
    page.select_option("#filter-unmatched", "true")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_contain_text("/not/a/route")
    page.select_option("#filter-unmatched", "")
    page.fill("#filter-status", "401")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_contain_text("/images/")
    page.fill("#filter-status", "")
    page.fill("#filter-operation", "usage-costs")
    expect(page.locator(ROWS)).to_have_count(1)
    page.fill("#filter-operation", "")
    expect(page.locator(ROWS)).to_have_count(3)


def test_an_entry_shows_the_request_and_the_answer(page: Page) -> None:
    _row(page, "/not/a/route").click()
    expect(page.locator("#detail-title")).to_have_text("#2 POST /not/a/route (no operation matched)")
    expect(page.locator("#detail-request-body")).to_contain_text('"looking": "for this"')
    expect(page.locator("#detail-request-headers")).to_contain_text("content-type")
    expect(page.locator("#detail-status")).to_have_text("404")
    expect(page.locator("#detail-response-body")).to_contain_text('"detail": "Not Found"')
    _row(page, "/v1/organization/costs").click()
    expect(page.locator("#detail-title")).to_contain_text("(usage-costs)")
    # credentials are shown as the journal keeps them: fingerprinted
    expect(page.locator("#detail-request-headers")).to_contain_text("Bearer [redacted sha256:")
    expect(page.locator("#detail-response-body")).to_contain_text('"object": "page"')


def test_the_clock_advances_from_the_page(page: Page, api: httpx.Client) -> None:
    page.fill("#set-instant", "2025-11-21T00:00:00Z")
    page.click("#set-clock")
    expect(page.locator("#clock-now")).to_have_text("2025-11-21T00:00:00Z")
    expect(page.locator("#clock-mode")).to_have_text("frozen")
    page.fill("#advance-seconds", "86400")
    page.click("#advance")
    expect(page.locator("#clock-now")).to_have_text("2025-11-22T00:00:00Z")
    assert api.get("/__mock__/clock").json()["iso"] == "2025-11-22T00:00:00Z"


def test_a_fault_injected_from_the_page_fails_the_next_call(page: Page, api: httpx.Client) -> None:
    page.select_option("#fault-pack", "openai_usage")
    page.fill("#fault-operation", "usage-costs")
    page.fill("#fault-status", "503")
    page.fill("#fault-remaining", "1")
    page.click("#add-fault")
    expect(page.locator("#faults-table tr.fault")).to_have_count(1)
    expect(page.locator("#faults-table")).to_contain_text("openai_usage / usage-costs")
    answer = api.get("/v1/organization/costs", params={"start_time": 1_763_000_000}, headers=ADMIN)
    assert answer.status_code == 503 and answer.json()["error"]["message"] == "Injected fault: status 503"
    _poll_now(page)
    page.fill("#filter-status", "503")
    expect(page.locator(ROWS)).to_have_count(1)
    page.fill("#filter-status", "")
    expect(page.locator("#faults-table tr.fault")).to_have_count(0)  # used up (1 time)


def test_a_bad_fault_says_why(page: Page, errors: list[str]) -> None:
    page.select_option("#fault-pack", "")
    page.fill("#fault-operation", "")
    page.fill("#fault-status", "")
    page.fill("#fault-remaining", "")
    page.click("#add-fault")
    expect(page.locator("#message")).to_have_text("Fault added: failed: a fault needs latency_ms, status or drop")
    # the browser logs the refused call itself; that one is expected
    errors.remove("console: Failed to load resource: the server responded with a status of 400 (Bad Request)")


def test_what_clients_send_is_shown_as_text_never_run(page: Page, api: httpx.Client) -> None:
    """Journal entries are whatever anyone sent the mock: markup in them must stay text."""
    attack = "<img src=x onerror=window.pwned=1>"
    api.post("/" + attack, content=f"<script>window.pwned=2</script>{attack}", headers={"content-type": "text/html"})
    _poll_now(page)
    row = _row(page, attack)
    expect(row).to_have_count(1)
    row.click()
    expect(page.locator("#detail-request-body")).to_have_text(f"<script>window.pwned=2</script>{attack}")
    assert page.evaluate("window.pwned") is None
    assert page.locator("#journal-section img, #journal-section script").count() == 0


def test_pack_summaries_follow_the_state_and_reset_clears_everything(page: Page, api: httpx.Client) -> None:
    chutes = page.locator('.pack[data-pack="chutes"]')
    expect(chutes.locator("dt", has_text="users")).to_have_count(1)
    registered = api.post("/__mock__/packs/chutes/users", json={
        "username": "dashboard", "hotkey": "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "free_account": True})
    assert registered.status_code == 201, registered.text
    _poll_now(page)
    expect(chutes.locator('dt[data-key="users"] + dd')).to_have_text("6")
    page.fill("#fault-latency", "1")
    page.click("#add-fault")
    expect(page.locator("#faults-table tr.fault")).to_have_count(1)
    page.click("#reset-all")
    expect(page.locator("#message")).to_have_text("Everything reset to fixtures")
    expect(page.locator(ROWS)).to_have_count(0)
    expect(page.locator("#journal-empty")).to_be_visible()
    expect(page.locator("#faults-empty")).to_be_visible()
    expect(chutes.locator('dt[data-key="users"] + dd')).to_have_text("5")
    assert api.get("/__mock__/journal").json()["total"] == 0


def test_the_docs_pages_render_offline(page: Page, base: str) -> None:
    elsewhere: list[str] = []
    page.route(lambda url: not url.startswith(base), lambda route: (elsewhere.append(route.request.url), route.abort()))
    page.goto(base + "/__mock__/docs/openai_usage")
    expect(page.locator(".opblock")).to_have_count(11)
    expect(page.locator(".info .title")).to_contain_text("OpenAI organization Usage API (mockserver)")
    page.goto(base + "/__mock__/docs/control")
    expect(page.locator(".opblock-summary-path", has_text="/journal").first).to_be_visible()
    assert elsewhere == []


def test_with_a_control_token_the_page_asks_for_it(browser: Browser, servers: dict[str, str]) -> None:
    url = servers["guarded"]
    page = _open(browser, url + "/__mock__/")
    expect(page.locator("#token-box")).to_be_visible()
    expect(page.locator("#server-info")).to_have_text("connecting…")  # no data without it
    page.fill("#token", CONTROL_TOKEN)
    page.click("#token-save")
    expect(page.locator("#token-box")).to_be_hidden()
    expect(page.locator("#server-info")).to_contain_text("seed 4")
    httpx.get(url + "/v1/organization/costs", params={"start_time": 1_763_000_000}, headers=ADMIN)
    _poll_now(page)
    expect(page.locator(ROWS)).to_have_count(1)
    page.context.close()
