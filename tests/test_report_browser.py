"""The report of a finished tiny sweep, opened in headless Chromium (Debian's chromium, driven by
Playwright): no console errors, every image decodes, the leaderboard sorts, a diverged trial shows
its reason, and strings from MLflow (a param value `<script>alert(1)</script>`) show as text."""

import os
import shutil
import subprocess
import sys

import pytest
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from pipeline.tracking.keys import REASON_TAG, ROLE_TAG, ROLE_TRIAL, STATUS_TAG

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium on a machine whose network is closed: no background fetches (as root: no sandbox).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCRIPT = "<script>alert(1)</script>"
IMAGE_ATTACK = '<img src=x onerror="alert(2)">'


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        message = "Debian's chromium is not installed (apt-get install chromium); .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run this test, not skip it
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def add_hostile_trial(client, experiment_id: str, parent_run_id: str) -> None:
    """A trial run whose name, swept value and reason are HTML: what a careless store could hold."""
    run = client.create_run(experiment_id, run_name=SCRIPT, tags={
        MLFLOW_PARENT_RUN_ID: parent_run_id, ROLE_TAG: ROLE_TRIAL, MLFLOW_RUN_NAME: SCRIPT,
        STATUS_TAG: "errored", REASON_TAG: IMAGE_ATTACK})
    client.log_param(run.info.run_id, "optim.d.lr", SCRIPT)
    client.set_terminated(run.info.run_id, "FAILED")


@pytest.fixture(scope="module")
def report(diverging_grid25_sweep):
    workdir, client = diverging_grid25_sweep
    experiment = client.get_experiment_by_name("grid25")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'parent'")
    add_hostile_trial(client, experiment.experiment_id, parent.info.run_id)
    out = workdir / "browser" / "grid25.html"
    subprocess.run([sys.executable, "-m", "pipeline.report", "grid25", "--tracking-uri",
                    f"sqlite:///{workdir / 'ml.db'}", "--out", str(out)], check=True, cwd=workdir, timeout=300)
    return out


@pytest.fixture(scope="module")
def page(chromium, report):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.problems = []
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("request", lambda request: request.url.startswith("http") and page.problems.append(request.url))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    yield page
    page.close()


def test_opens_without_errors_and_every_image_decodes(page, report):
    assert page.problems == []  # no console error, no script ran, nothing fetched from the network
    images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
    assert all(ok for _, ok in images), [alt for alt, ok in images if not ok]
    alts = " | ".join(alt for alt, _ in images)
    for kind in ("of every trial over steps", "parallel coordinates", "latent plane", "latent interpolation",
                 "samples of optim.d.lr=0.001 at step 200", "samples at step 100", "fid and modes of"):
        assert kind in alts, (kind, alts)
    page.screenshot(path=str(report.with_suffix(".png")), full_page=False)
    assert report.with_suffix(".png").stat().st_size > 10_000


def leaderboard_column(page, header: str) -> list[str]:
    index = page.evaluate("(h) => Array.from(document.querySelectorAll('#leaderboard th'))"
                          ".findIndex(th => th.textContent.trim() === h)", header)
    assert index >= 0, header
    return page.evaluate("(i) => Array.from(document.querySelectorAll('#leaderboard tbody tr'))"
                         ".map(r => r.children[i].dataset.value ?? r.children[i].textContent.trim())", index)


def test_leaderboard_sorts_by_a_clicked_column(page):
    page.click("#leaderboard th:text-is('rank')")  # ascending
    assert leaderboard_column(page, "rank") == ["1", "2", "3"]
    page.click("#leaderboard th:text-is('rank')")  # and back
    assert leaderboard_column(page, "rank") == ["3", "2", "1"]
    page.click("#leaderboard th:text-is('best modes')")  # grid25 ranks on modes
    values = [float(v) for v in leaderboard_column(page, "best modes") if v]
    assert values == sorted(values) and len(values) >= 1


def test_diverged_trial_shows_its_reason(page):
    statuses = leaderboard_column(page, "status")
    reasons = leaderboard_column(page, "reason")
    diverged = [reason for status, reason in zip(statuses, reasons, strict=True) if status == "diverged"]
    assert len(diverged) == 1 and "loss" in diverged[0]


def test_html_from_mlflow_shows_as_text(page):
    assert page.get_by_text(SCRIPT, exact=True).count() >= 2  # the run name and the swept value, as text
    assert page.get_by_text(IMAGE_ATTACK).count() >= 1  # the reason too
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
