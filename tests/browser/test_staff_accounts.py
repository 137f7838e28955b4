"""The first day of a firm's staff, in Chromium: the first admin's printed password, the forced
change, the authenticator app set up from the QR code on the page, an account for a colleague and
the colleague's own first sign-in. Checked as a person sees it (headings, the error summary, the
one-time password on the page, the QR code decoded by zbarimg) and with axe."""
from __future__ import annotations

import re
import subprocess
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import save_screenshot
from tests.browser.test_axe import violations
from tests.conftest import app_code, wrong_code

pytestmark = pytest.mark.browser
NEW_PASSWORD = "spring river moon 2026"


@pytest.fixture
def desktop(chromium, serving):
    """New desktop browsers (their own cookies) in Chinese: desktop() -> page."""
    contexts = []

    def make():
        context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.locator("main form button.primary").click()


def choose_password(page, current: str, new: str, again: str) -> None:
    page.fill("#current_password", current)
    page.fill("#new_password", new)
    page.fill("#confirm", again)
    page.locator("main form button.primary").click()


def scan_qr(page, tmp_path) -> str:
    """What a phone reads from the set-up page's QR code (zbarimg on a screenshot of it)."""
    shot = tmp_path / "totp-qr.png"
    page.locator(".totp-qr svg").screenshot(path=str(shot))
    decoded = subprocess.run(["zbarimg", "-q", "--raw", str(shot)], capture_output=True, text=True)
    assert decoded.returncode == 0, decoded.stderr
    return decoded.stdout.strip()


def set_up_authenticator(page, tmp_path) -> str:
    """Scan the QR code as a phone would, check the typed key agrees, give the first code; the secret."""
    uri = urlparse(scan_qr(page, tmp_path))
    secret = parse_qs(uri.query)["secret"][0]
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert page.locator("code.totp-secret").inner_text().replace(" ", "") == secret
    page.fill("#code", app_code(secret))
    page.locator("main form button.primary").click()
    return secret


def test_the_first_admin_replaces_the_printed_password_then_opens_an_account(app, serving, desktop, tmp_path):
    printed = app.test_cli_runner().invoke(args=["users", "ensure-admin"]).output
    first_password = re.search(r"password: (\S+)", printed).group(1)
    admin = desktop()
    sign_in(admin, serving, "admin", first_password)
    admin.wait_for_url(re.compile(r"/account/password"))
    assert admin.locator("h1").inner_text() == "修改密码"
    assert "由他人设置" in admin.locator("main .card.warn").inner_text()
    assert admin.locator(".console-nav ul a").count() == 0  # no menu whose every entry leads back here
    assert violations(admin) == []

    choose_password(admin, first_password, "short", "short")
    summary = admin.locator(".error-summary")
    assert "请至少使用 12 个字符" in summary.inner_text()
    assert admin.locator("#new_password").get_attribute("aria-invalid") == "true"
    assert violations(admin) == []
    save_screenshot(admin, "console-password-change")

    choose_password(admin, first_password, NEW_PASSWORD, NEW_PASSWORD)
    admin.wait_for_url(re.compile(r"/account/two-factor"))
    assert admin.locator("h1").inner_text() == "两步登录"
    assert admin.locator(".console-nav ul a").count() == 0
    assert scan_qr(admin, tmp_path).startswith("otpauth://totp/Huifang:admin?")
    secret = parse_qs(urlparse(scan_qr(admin, tmp_path)).query)["secret"][0]
    admin.fill("#code", wrong_code(secret))
    admin.locator("main form button.primary").click()
    assert "验证码与应用当前显示的不符" in admin.locator(".error-summary").inner_text()
    assert admin.locator("#code").get_attribute("aria-invalid") == "true"
    assert violations(admin) == []
    save_screenshot(admin, "console-two-factor")
    assert set_up_authenticator(admin, tmp_path) == secret
    admin.wait_for_url(re.compile(r"/console/$"))

    # The next sign-in asks for the code after the password.
    admin.locator("form.signout button").click()
    sign_in(admin, serving, "admin", NEW_PASSWORD)
    admin.wait_for_url(re.compile(r"/login/code"))
    assert violations(admin) == []
    admin.fill("#code", app_code(secret, 1))  # the set-up used this step's code; a code is good once
    admin.locator("main form button.primary").click()
    admin.wait_for_url(re.compile(r"/console/$"))
    admin.get_by_role("navigation", name="管理后台").get_by_role("link", name="人员").click()
    admin.get_by_role("link", name="新建人员账号").click()
    admin.fill("#username", "li.si")
    admin.fill("#display_name", "李四")
    admin.select_option("#role", "review_executor")
    admin.locator("main form button.primary").click()
    one_time = admin.locator("#one-time-password").inner_text()
    assert len(one_time) == 16 and violations(admin) == []

    colleague = desktop()
    sign_in(colleague, serving, "li.si", one_time)
    colleague.wait_for_url(re.compile(r"/account/password"))
    choose_password(colleague, one_time, "li si keeps his own", "li si keeps his own")
    colleague.wait_for_url(re.compile(r"/account/two-factor"))
    set_up_authenticator(colleague, tmp_path)
    colleague.wait_for_url(re.compile(r"/console/$"))
    assert "李四" in colleague.locator("main").inner_text()
    assert colleague.locator('a[href="/console/staff/"]').count() == 0  # not an administrator
