"""The page notices a new release without a reload, in a real Chromium against a live server over a store
this module publishes to: a banner names the new release and its button redraws the view from it; no
check is made while the tab is hidden. The page's `?releasePoll=<seconds>` shortens its 30 s interval.
"""

import re
import time

import pytest

from schema.release import Store
from server.app import create_app
from server.config import ServerConfig
from tests.server.conftest import write_store
from tests.server.live import live_server
from tests.server.test_page import wait_ready

POLL_S = 0.2
CARDS = "cs => cs.map(c => c.querySelector('h3').innerText)"
SET_VISIBILITY = """state => {
  Object.defineProperty(document, 'visibilityState', { value: state, configurable: true });
  document.dispatchEvent(new Event('visibilitychange'));
}"""


@pytest.fixture
def published(tmp_path):
    """A live server over a store of its own; yields (base url, store root) for the test to publish to."""
    write_store(tmp_path)
    with live_server(create_app(ServerConfig(db=tmp_path, release_check_s=0.0))) as url:
        yield url, tmp_path


@pytest.fixture
def tab(browser):
    """A tab whose JavaScript errors fail the test, and the release checks it sends (request times)."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.checks = []
    page.on(
        "request",
        lambda r: page.checks.append(time.monotonic()) if "ReleasePoll" in (r.post_data or "") else None,
    )
    yield page
    page.close()
    assert errors == []
    assert browser.outside == []


def footer_release(page) -> str:
    return re.match(r"release (\S+):", page.locator("#release").inner_text()).group(1)


@pytest.mark.browser
def test_a_new_release_is_announced_and_the_button_redraws_the_view(tab, published, screenshots):
    url, root = published
    first = Store(root).current_release()
    tab.goto(f"{url}/?releasePoll={POLL_S}#/")
    wait_ready(tab)
    tab.wait_for_function("() => /^release /.test(document.getElementById('release').textContent)")
    assert footer_release(tab) == first
    assert tab.eval_on_selector_all(".card.celltype", CARDS) == ["T cell 2 networks", "B cell 1 network"]
    deadline = time.monotonic() + 5
    while len(tab.checks) < 2 and time.monotonic() < deadline:  # it checks, and finds nothing new
        tab.wait_for_timeout(50)
    assert len(tab.checks) >= 2 and tab.locator("#release-notice").count() == 0

    write_store(root, note="second", dataset="second.h5ad")  # the same groups again, from another dataset
    second = Store(root).current_release()
    notice = tab.locator("#release-notice")
    notice.wait_for()
    assert notice.text_content() == f"A new release ({second}) is available — Reload×"
    assert notice.get_attribute("data-release") == second
    # non-blocking: the view stays as it was, from the release it was read from, until asked
    assert tab.eval_on_selector_all(".card.celltype", CARDS) == ["T cell 2 networks", "B cell 1 network"]
    assert footer_release(tab) == first
    tab.screenshot(path=screenshots / "release-notice.png")

    hash_before = tab.evaluate("location.hash")
    notice.locator("button", has_text="Reload").click()
    tab.wait_for_function("() => !document.getElementById('release-notice')")
    wait_ready(tab)
    tab.wait_for_function(f"() => document.getElementById('release').textContent.includes('{second}')")
    assert tab.evaluate("location.hash") == hash_before
    assert tab.eval_on_selector_all(".card.celltype", CARDS) == ["T cell 4 networks", "B cell 2 networks"]
    tab.wait_for_timeout(4 * POLL_S * 1000)  # later checks see the release the view shows: no new notice
    assert tab.locator("#release-notice").count() == 0


@pytest.mark.browser
def test_no_release_check_while_the_tab_is_hidden(tab, published):
    url, root = published
    tab.goto(f"{url}/?releasePoll={POLL_S}#/network/1")
    wait_ready(tab)
    deadline = time.monotonic() + 5
    while len(tab.checks) < 2 and time.monotonic() < deadline:
        tab.wait_for_timeout(50)
    assert len(tab.checks) >= 2
    tab.evaluate(SET_VISIBILITY, "hidden")
    tab.wait_for_timeout(2 * POLL_S * 1000)  # a check sent just before may still be reported
    hidden_at = len(tab.checks)
    write_store(root, note="second", dataset="second.h5ad")
    tab.wait_for_timeout(6 * POLL_S * 1000)
    assert len(tab.checks) == hidden_at  # six intervals, no check
    assert tab.locator("#release-notice").count() == 0
    tab.evaluate(SET_VISIBILITY, "visible")  # back in view: one check at once finds the new release
    tab.locator("#release-notice").wait_for(timeout=POLL_S * 1000 * 5)
    assert len(tab.checks) > hidden_at
    assert tab.locator("#release-notice").get_attribute("data-release") == Store(root).current_release()
    tab.click("#release-notice button[aria-label='Dismiss']")  # closed: not shown again for that release
    tab.wait_for_timeout(4 * POLL_S * 1000)
    assert tab.locator("#release-notice").count() == 0
