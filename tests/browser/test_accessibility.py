"""Accessibility of the client's form, checked in the real page Chromium renders.

Names come from Chromium's own accessibility tree (CDP Accessibility.getFullAXTree); colours,
outlines and sizes from computed styles.
"""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import link_path

pytestmark = pytest.mark.browser

FORM_CONTROL_ROLES = {"radio", "checkbox", "textbox", "combobox", "spinbutton"}
# Every visible element with text of its own: its colour, the background behind it (ancestors'
# backgrounds composited until opaque), its size and weight.
TEXT_STYLES_JS = """
() => {
  function rgba(s) { const m = s.match(/[\\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; }
  function over(top, bottom) {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  }
  function background(el) {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  }
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const own = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent.trim()).join("");
    if (!own || !el.checkVisibility()) continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) continue;  // visually hidden (screen-reader only)
    const s = getComputedStyle(el);
    out.push({text: own.slice(0, 40), tag: el.tagName, cls: el.className,
              color: over(rgba(s.color), background(el)), bg: background(el),
              size: parseFloat(s.fontSize), weight: parseInt(s.fontWeight, 10)});
  }
  return out;
}
"""


def luminance(rgb) -> float:
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def open_form(phone, invitation, javascript: bool = True):
    client = phone(javascript=javascript)
    client.open(link_path(invitation))
    client.page.fill("#answer", "123X")
    client.page.locator("form button.primary").click()
    client.page.wait_for_url(re.compile(r"/q/[^/]+$"))
    return client.page


def reveal_all(page) -> None:
    """Answer the gate questions so every question of the form is on screen."""
    page.locator('#q-is_account_holder label:has(input[value="yes"])').click()
    page.locator('#q-staff_violation label:has(input[value="yes"])').click()
    page.locator("#q-staff_violation_kinds").wait_for(state="visible")


def ax_nodes(page) -> list[dict]:
    cdp = page.context.new_cdp_session(page)
    try:
        return cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()


def test_every_input_has_an_accessible_name(phone, suitability_invitation):
    page = open_form(phone, suitability_invitation)
    reveal_all(page)
    visible_inputs = page.locator("#qform input:not([type=hidden]):visible, #qform textarea:visible").count()
    controls = [n for n in ax_nodes(page)
                if not n.get("ignored") and n.get("role", {}).get("value") in FORM_CONTROL_ROLES]
    unnamed = [n["role"]["value"] for n in controls if not n.get("name", {}).get("value", "").strip()]
    assert len(controls) == visible_inputs > 20
    assert unnamed == []


def test_choice_groups_are_fieldsets_with_a_legend(phone, suitability_invitation):
    page = open_form(phone, suitability_invitation)
    reveal_all(page)
    groups = page.evaluate("""() => Array.from(document.querySelectorAll(
        '#qform input[type=radio], #qform .q-multiple_choice input[type=checkbox]')).map(i => {
          const fs = i.closest('fieldset');
          const legend = fs && fs.querySelector(':scope > legend');
          return {name: i.name, legend: legend ? legend.textContent.trim() : null};
        })""")
    assert len(groups) > 20
    assert [g["name"] for g in groups if not g["legend"]] == []


def test_errors_are_tied_to_their_fields_after_a_failed_submit(phone, suitability_invitation):
    page = open_form(phone, suitability_invitation)
    page.locator('#q-is_account_holder label:has(input[value="yes"])').click()
    page.locator("#q-own_operation").wait_for(state="visible")
    page.get_by_role("button", name=re.compile("提交|Submit")).click()
    page.locator(".error-summary").wait_for()
    ties = page.evaluate("""() => Array.from(document.querySelectorAll('.question.has-error')).map(q => {
        const error = q.querySelector('.error');
        const field = q.querySelector('fieldset') || q.querySelector('input:not([type=hidden]), textarea');
        const described = (field.getAttribute('aria-describedby') || '').split(/\\s+/);
        return {q: q.dataset.qid, error: error && error.textContent.trim(), tied: !!error && described.includes(error.id),
                invalid: Array.from(q.querySelectorAll('input, textarea')).every(i => i.getAttribute('aria-invalid') === 'true')};
      })""")
    assert {t["q"] for t in ties} >= {"review_consent", "own_operation", "knows_fees", "sales_conduct"}
    assert [t for t in ties if not (t["error"] and t["tied"] and t["invalid"])] == []
    assert page.evaluate("document.activeElement.id") == "error-summary"
    # Chromium itself reads the error as the group's description.
    descriptions = [n.get("description", {}).get("value", "") for n in ax_nodes(page)
                    if n.get("role", {}).get("value") in ("group", "radiogroup", "checkbox")]
    assert any("请回答此问题" in d for d in descriptions)


def test_keyboard_focus_on_a_choice_is_clearly_visible(phone, suitability_invitation):
    page = open_form(phone, suitability_invitation)
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "radio":
            break
    ring = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor, shadow: s.boxShadow}; }""")
    assert ring["style"] != "none" and ring["width"] >= 2, ring
    # The ring must stand out from the white card (WCAG 1.4.11: 3:1): the outline or its dark halo.
    colors = [tuple(map(float, re.findall(r"[\d.]+", c)[:3])) for c in (ring["color"], ring["shadow"]) if "rgb" in c]
    assert max(contrast(c, (255, 255, 255)) for c in colors) >= 3, ring


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_text_contrast_is_at_least_4_5_to_1(phone, suitability_invitation, javascript):
    page = open_form(phone, suitability_invitation, javascript=javascript)
    if javascript:
        reveal_all(page)
    texts = page.evaluate(TEXT_STYLES_JS)
    low = [(t["text"], t["cls"], round(contrast(t["color"], t["bg"]), 2)) for t in texts
           if contrast(t["color"], t["bg"]) < 4.5]
    assert len(texts) > 30
    assert low == []


def test_body_text_is_large_enough_for_older_clients(phone, suitability_invitation):
    page = open_form(phone, suitability_invitation, javascript=False)
    sizes = page.evaluate("""() => Array.from(document.querySelectorAll('#qform legend, #qform .choice span, .intro p'))
                                  .map(e => parseFloat(getComputedStyle(e).fontSize))""")
    assert sizes and min(sizes) >= 17
