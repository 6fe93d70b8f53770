"""The web console in a real browser: Debian's Chromium driven by Playwright against the sandbox's gateway.

One browser for the module, a fresh context (so a fresh sessionStorage) per test. The jobs are real ODMJobs run
by the operator on the simulated ECS: one that succeeds, one whose input is empty (Failed), one held by
spec.suspend, one long enough to be cancelled while ODM runs, and one submitted through the page itself.
Screenshots go to the test's tmp_path (docs/console.png is one of them).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from odm_operator import API_GROUP, API_VERSION, PLURAL
from odm_sandbox.stack import GATEWAY_NAMESPACE, GATEWAY_OUTPUT_BUCKET, GATEWAY_STAGING_BUCKET, Stack

from .conftest import eventually

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"  # Debian's package (make chromium); Playwright never downloads a browser here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# 400 images keep the simulated ODM busy for ~135 s at the stack's time scale: long enough to cancel it mid-run.
LONG_IMAGES = 400


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _job(name: str, images: int, suspend: bool = False, spot: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "ODMJob",
        "metadata": {"name": name},
        "spec": {
            "input": {"s3Uri": f"s3://{GATEWAY_STAGING_BUCKET}/console/{name}/"},
            "output": {"s3Uri": f"s3://{GATEWAY_OUTPUT_BUCKET}/console/{name}/"},
            "odm": {"options": {"dsm": True}},
            "capacity": {"type": "fargate", "spot": spot},
            "suspend": suspend,
        },
    }


@pytest.fixture(scope="module")
def seeded(stack: Stack, custom: Any) -> dict[str, str]:
    """Four ODMJobs (not NodeODM tasks) in the gateway's namespace, each headed for a different phase."""
    s3 = stack.client("s3")
    jobs = {
        "console-done": (3, False, False),
        "console-empty": (0, False, False),
        "console-held": (2, True, False),
        "console-long": (LONG_IMAGES, False, True),
    }
    for name, (images, suspend, spot) in jobs.items():
        for i in range(images):
            s3.put_object(
                Bucket=GATEWAY_STAGING_BUCKET, Key=f"console/{name}/IMG_{i:04d}.JPG", Body=b"\xff" * 512
            )
        custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, GATEWAY_NAMESPACE, PLURAL, _job(name, images, suspend, spot)
        )
    return {"url": stack.gateway_url, "token": stack.gateway_token}


def _get(custom: Any, name: str) -> dict[str, Any]:
    return custom.get_namespaced_custom_object(API_GROUP, API_VERSION, GATEWAY_NAMESPACE, PLURAL, name)


def _phase(custom: Any, name: str) -> str | None:
    return (_get(custom, name).get("status") or {}).get("phase")


def _signed_in(browser: Browser, gateway: dict[str, str], viewport: dict[str, int] = DESKTOP) -> Page:
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(gateway["url"] + "/")
    page.fill("#token", gateway["token"])
    page.click("#login-form button")
    expect(page.locator("#view-jobs")).to_be_visible()
    return page


def _row(page: Page, name: str) -> Any:
    return page.locator(f'#jobs-body tr[data-job="{name}"]')


def test_a_wrong_token_shows_nothing(browser: Browser, seeded: dict[str, str]):
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(seeded["url"] + "/")
    page.fill("#token", "not-the-token")
    page.click("#login-form button")
    expect(page.locator("#login-error")).to_contain_text("refused")
    expect(page.locator("#view-jobs")).to_be_hidden()
    assert page.locator("#jobs-body tr").count() == 0
    assert page.evaluate("sessionStorage.length") == 0  # the refused token is not kept
    answer = requests.get(
        seeded["url"] + "/api/jobs", headers={"Authorization": "Bearer not-the-token"}, timeout=10
    )
    assert answer.status_code == 401 and "console-done" not in answer.text
    page.context.close()


def test_the_list_shows_jobs_of_several_phases_with_progress(
    browser: Browser, seeded: dict[str, str], custom: Any, tmp_path: Path
):
    page = _signed_in(browser, seeded)
    expect(_row(page, "console-done")).to_have_attribute("data-phase", "Succeeded", timeout=60_000)
    expect(_row(page, "console-done")).to_contain_text("100%")
    expect(_row(page, "console-empty")).to_have_attribute("data-phase", "Failed", timeout=60_000)
    expect(_row(page, "console-empty")).to_contain_text("InputUnavailable")
    expect(_row(page, "console-held")).to_have_attribute("data-phase", "Suspended", timeout=60_000)
    long = _row(page, "console-long")
    expect(long).to_have_attribute("data-phase", "Running", timeout=60_000)
    expect(long.locator(".stage")).to_have_text(
        re.compile(r"^(?!waiting$)\w+"), timeout=60_000
    )  # an ODM stage
    expect(long).to_contain_text("fargate spot")
    eventually(lambda: int(long.locator("progress").get_attribute("value") or 0) > 0, 60, "progress above 0")
    names = page.locator("#jobs-body tr").evaluate_all("rows => rows.map(r => r.dataset.job)")
    ours = [n for n in names if n.startswith("console-")]
    assert ours == ["console-long", "console-held", "console-empty", "console-done"]  # newest first
    page.screenshot(path=str(tmp_path / "list.png"))

    page.select_option("#phase-filter", "Failed")
    expect(page.locator("#jobs-body tr:not([data-phase=Failed])")).to_have_count(0)
    expect(_row(page, "console-empty")).to_be_visible()

    # Polling costs nothing while nothing changes: the same page again is a 304 without a body.
    auth = {"Authorization": f"Bearer {seeded['token']}"}
    first = requests.get(seeded["url"] + "/api/jobs?phase=Failed", headers=auth, timeout=10)
    again = requests.get(
        seeded["url"] + "/api/jobs?phase=Failed",
        headers={**auth, "If-None-Match": first.headers["ETag"]},
        timeout=10,
    )
    assert (first.status_code, again.status_code, again.content) == (200, 304, b"")

    page.set_viewport_size(PHONE)
    page.select_option("#phase-filter", "")
    expect(_row(page, "console-long")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")  # no sideways scrolling
    page.screenshot(path=str(tmp_path / "list-phone.png"))
    page.context.close()


def test_a_job_page_shows_its_timeline_log_and_products(
    browser: Browser, seeded: dict[str, str], tmp_path: Path
):
    page = _signed_in(browser, seeded)
    eventually(lambda: _row(page, "console-done").get_attribute("data-phase") == "Succeeded", 60, "success")
    _row(page, "console-done").locator("a").click()
    timeline = page.locator("#job-timeline")
    expect(timeline).to_contain_text("Created")
    expect(timeline).to_contain_text("Attempt 1 started")
    expect(timeline).to_contain_text("Finished: Succeeded")
    expect(page.locator("#job-log")).to_contain_text("Running odm_dem stage")
    expect(page.locator("#job-sizing")).to_contain_text("Images found")
    link = page.get_by_role("link", name="All products (all.zip)")
    expect(link).to_be_visible()
    href = link.get_attribute("href") or ""
    expires = re.search(r"[?&]Expires=(\d+)", href) or re.search(r"X-Amz-Expires=(\d+)", href)
    assert expires, href
    lifetime = int(expires[1]) - time.time() if int(expires[1]) > 10**9 else int(expires[1])  # SigV2 or SigV4
    assert 0 < lifetime <= 300 + 5  # short-lived
    download = requests.get(href, timeout=30)
    assert download.status_code == 200 and download.content[:2] == b"PK"  # a zip, straight from S3
    page.screenshot(path=str(tmp_path / "job.png"), full_page=True)

    # A running job's log follows ODM as it writes.
    page.goto(seeded["url"] + "/#/job/console-long")
    log = page.locator("#job-log")
    expect(log).to_contain_text("stage", timeout=30_000)
    before = len(log.inner_text())
    eventually(lambda: len(log.inner_text()) > before, 60, "the log to grow while ODM runs")
    page.context.close()


def test_cancel_stops_a_running_job_and_delete_asks_first(
    browser: Browser, seeded: dict[str, str], custom: Any, stack: Stack
):
    page = _signed_in(browser, seeded)
    page.goto(seeded["url"] + "/#/job/console-long")
    expect(page.locator("#job-phase")).to_have_text("Running", timeout=60_000)
    task_arn = (_get(custom, "console-long")["status"].get("aws") or {}).get("taskArn")
    page.click("#act-cancel")
    expect(page.locator("#job-phase")).to_have_text("Suspended", timeout=60_000)
    assert _get(custom, "console-long")["spec"]["suspend"] is True
    if task_arn:
        ecs = stack.client("ecs")
        eventually(
            lambda: (
                ecs.describe_tasks(cluster=task_arn.split("/")[1], tasks=[task_arn])["tasks"][0]["lastStatus"]
                == "STOPPED"
            ),
            60,
            "the ECS task to stop",
        )

    page.goto(seeded["url"] + "/#/job/console-empty")
    expect(page.locator("#job-phase")).to_have_text("Failed")
    page.click("#act-delete")
    expect(page.locator("#confirm-delete")).to_be_visible()
    page.click("#confirm-delete button[value=cancel]")  # "Keep it"
    expect(page.locator("#confirm-delete")).to_be_hidden()
    assert _phase(custom, "console-empty") == "Failed"  # nothing happened
    page.click("#act-delete")
    page.click("#confirm-delete-yes")
    expect(page.locator("#view-jobs")).to_be_visible()
    expect(_row(page, "console-empty")).to_have_count(0, timeout=30_000)
    names = {j["metadata"]["name"] for j in _list(custom)}
    eventually(lambda: "console-empty" not in {j["metadata"]["name"] for j in _list(custom)}, 30, "deletion")
    assert "console-done" in names
    page.context.close()


def _list(custom: Any) -> list[dict[str, Any]]:
    return custom.list_namespaced_custom_object(API_GROUP, API_VERSION, GATEWAY_NAMESPACE, PLURAL)["items"]


def test_a_submitted_folder_becomes_a_job_that_finishes(
    browser: Browser, seeded: dict[str, str], custom: Any, tmp_path: Path
):
    folder = tmp_path / "flight"
    folder.mkdir()
    for i in range(4):
        (folder / f"DJI_{i:04d}.JPG").write_bytes(bytes([i]) * 4096)
    (folder / "notes.docx").write_bytes(b"not an image")  # skipped, and said so
    page = _signed_in(browser, seeded)
    page.click("nav >> text=Submit")
    expect(page.locator("#options [data-option]").first).to_be_attached()  # the form from /options
    page.set_input_files("#pick-folder", str(folder))
    expect(page.locator("#files-summary")).to_contain_text("4 images")
    expect(page.locator("#files-summary")).to_contain_text("1 other files skipped")
    page.fill("#job-name", "Console flight")
    page.select_option("#preset", "fast")
    page.check("#spot")
    page.click("#submit-go")
    started = time.monotonic()
    row = page.locator("#jobs-body tr", has_text="Console flight")
    expect(row).to_be_visible(timeout=10_000)
    appeared = time.monotonic() - started
    expect(row).to_have_attribute("data-phase", "Succeeded", timeout=120_000)
    job = next(
        j
        for j in _list(custom)
        if (j["metadata"].get("annotations") or {}).get("odm-operator.io/nodeodm-name") == "Console flight"
    )
    assert job["spec"]["capacity"]["spot"] is True
    assert job["spec"]["odm"]["options"].get("fast-orthophoto") is True
    assert job["metadata"]["annotations"]["odm-operator.io/nodeodm-images"] == "4"
    assert appeared < 10
    page.context.close()
