"""evalbatch serve in a real browser: Debian's chromium driven headless by selenium against
the server started as a subprocess on a free loopback port, as an accountant would use it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from builders import dept, reference, write

from evalbatch.web import codes as C

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parent.parent
UNIT, OTHER = "620101", "620102"
# Set EVALBATCH_SCREENSHOTS=docs/images to refresh the README's picture.
SHOTS_TO = os.environ.get("EVALBATCH_SCREENSHOTS")

pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    out, inbox = tmp_path / "out", tmp_path / "inbox"
    issued = C.issue(out, {UNIT: "省委编办", OTHER: "省委宣传部", C.BUREAU: "财政厅"})
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "evalbatch", "serve", str(out), "--inbox", str(inbox), "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/signin", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("evalbatch serve did not start: " + proc.stdout.read().decode(errors="replace"))
            time.sleep(0.3)
    yield url, issued, inbox
    proc.terminate()
    proc.wait(20)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1000",
                "--lang=zh-CN"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(300)  # a busy CI machine: a check may queue behind others
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def shot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    if SHOTS_TO:
        shutil.copy(path, Path(SHOTS_TO) / path.name)
    return path


def click_and_leave(driver, element_id: str) -> None:
    """Click a button that submits its form, and wait until its page is gone: a click does not
    wait for the next page, and an element found on the old one goes stale under the test."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    button = driver.find_element(By.ID, element_id)
    button.click()
    WebDriverWait(driver, 120).until(EC.staleness_of(button))


def sign_in(driver, url: str, unit: str, code: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/signin")
    driver.find_element(By.ID, "unit").send_keys(unit)
    driver.find_element(By.ID, "code").send_keys(code)
    click_and_leave(driver, "signin")


def upload(driver, path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "files").send_keys(str(path))
    driver.find_element(By.ID, "check").click()
    WebDriverWait(driver, 180).until(EC.presence_of_element_located((By.ID, "counts")))


def test_a_unit_checks_corrects_submits_and_another_unit_sees_none_of_it(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    url, issued, inbox = server
    data = dept(UNIT, "省委编办")
    data["indicators"][3]["self_score"] = 99
    bad = write(tmp_path, data, "620101_省委编办_初稿.xlsx")
    good = write(tmp_path, reference(), "620101_省委编办.xlsx")

    sign_in(browser, url, UNIT, issued[UNIT])
    assert browser.find_element(By.TAG_NAME, "h1").text == "检查填报文件"
    upload(browser, bad)
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in browser.find_elements(By.CSS_SELECTOR, "#findings tr")[1:]]
    assert [(r[0], r[2], r[3]) for r in rows] == [("提示", "基本信息", "B16"), ("错误", "整体指标", "H5"),
                                                  ("警告", "项目", "E2"), ("提示", "项目", "E2")]
    assert rows[1][5] == "「“三公经费”控制率」自评得分 99 超过分值 3，得分不能高于分值；复核得分 3.00（比率 68.58% 不超过 100%，得 3.00）；请更正"
    shot(browser, tmp_path, "网页_检查结果")
    browser.find_element(By.CSS_SELECTOR, "a.feedback").click()
    WebDriverWait(browser, 120).until(lambda _: any(p.suffix == ".xlsx" for p in browser.downloads.iterdir()))
    feedback = next(p for p in browser.downloads.iterdir() if p.suffix == ".xlsx")
    assert feedback.name == "620101_省委编办_复核结果.xlsx" and feedback.read_bytes()[:2] == b"PK"
    assert not inbox.exists() or not any(inbox.rglob("*.xlsx"))

    browser.get(url + "/unit")
    upload(browser, good)
    assert browser.find_element(By.ID, "counts").text.startswith("错误 0 个")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 120).until(EC.presence_of_element_located((By.ID, "receipt-title")))
    receipt = browser.find_element(By.ID, "receipt").text
    assert "620101 省委编办" in receipt and "90.56" in receipt
    shot(browser, tmp_path, "网页_回执")
    placed = list((inbox / UNIT).glob("*.xlsx"))
    assert len(placed) == 1 and placed[0].read_bytes() == good.read_bytes()

    click_and_leave(browser, "signout")
    sign_in(browser, url, OTHER, issued[OTHER])
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "省委宣传部" in browser.find_element(By.TAG_NAME, "header").text
    assert "还没有提交" in page and "620101" not in page and "省委编办" not in page
