"""Security headers on every response, and pages that work under a Content-Security-Policy without 'unsafe-inline'.

The policy is in the base settings, so every other browser test (tests/test_accessibility.py visits every page
of every role and fails on a CSP violation in the console) runs under it too.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [REPO / "templates", *sorted((REPO / "apps").glob("*/templates"))]
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def _directives(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


def _assert_headers(resp) -> None:
    csp = _directives(resp.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        assert csp[directive] == ["'self'"], f"{directive}: {csp.get(directive)}"
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"] and csp["form-action"] == ["'self'"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = resp.headers["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in policy


@pytest.mark.django_db
def test_pages_api_and_errors_carry_the_security_headers(client, make_user, api_client_for):
    login = client.get("/login/")
    assert login.status_code == 200
    _assert_headers(login)
    client.force_login(make_user("analyst"))
    for path, status in (("/", 200), ("/jobs/", 200), ("/no/such/page/", 404), ("/api/docs/", 200)):
        resp = client.get(path)
        assert resp.status_code == status, path
        _assert_headers(resp)
    resp = api_client_for("analyst").get("/api/v1/jobs/")
    assert resp.status_code == 200
    _assert_headers(resp)


def test_no_template_has_inline_script_style_or_event_handler():
    found = []
    for folder in TEMPLATE_DIRS:
        for path in folder.rglob("*.html"):
            text = path.read_text()
            for pattern in (INLINE_SCRIPT, INLINE_STYLE, EVENT_HANDLER):
                found += [f"{path.relative_to(REPO)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert not found, "\n".join(found)


@pytest.mark.django_db
def test_swagger_ui_page_has_no_inline_script_or_style(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not INLINE_SCRIPT.search(html) and not INLINE_STYLE.search(html), html
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert any("swagger-ui-bundle" in s for s in scripts)
    init = [s for s in scripts if s.startswith("/api/docs/")]
    assert len(init) == 1, scripts
    script = client.get(init[0].replace("&amp;", "&"))
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content and b"/api/schema/" in script.content


@pytest.mark.browser
def test_swagger_ui_renders_under_the_csp_without_a_violation(page, live_server):
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    resp = page.goto(f"{live_server.url}/api/docs/")
    assert "unsafe-inline" not in resp.headers["content-security-policy"]
    # The operations come from the schema, fetched by the init script: they show only if the scripts ran.
    page.locator(".opblock-tag", has_text="v1").first.wait_for()
    assert page.locator(".opblock").count() > 10
    # Opening an operation renders its parameters and responses (React, highlighted examples).
    page.locator(".opblock-get .opblock-summary", has_text="/api/v1/jobs/").first.click()
    page.locator(".opblock-body .parameters", has_text="limit").wait_for()
    page.locator(".opblock-body .responses-wrapper").first.wait_for()
    # The stylesheet moved out of the template applies (the inline <style> it replaces would be refused).
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
    assert not violations, violations


@pytest.mark.browser
def test_admin_site_pages_load_under_the_csp_without_a_violation(page, live_server, make_user, login):
    admin = make_user("admin")
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    login(admin.username)
    for path in ("/admin/", "/admin/accounts/user/", f"/admin/accounts/user/{admin.pk}/change/"):
        resp = page.goto(f"{live_server.url}{path}")
        assert resp.status == 200, path
        page.wait_for_load_state()
    # The admin's scripts ran: the sidebar toggle (admin/js/nav_sidebar.js) opens and closes the sidebar.
    shifted = page.locator("#main").evaluate("m => m.classList.contains('shifted')")
    page.locator("#toggle-nav-sidebar").click()
    assert page.locator("#main").evaluate("m => m.classList.contains('shifted')") is not shifted
    assert not violations, violations
