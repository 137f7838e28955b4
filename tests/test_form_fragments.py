"""The form page's fragment cache (app/respond/fragments.py): same HTML, never a client's data."""
from __future__ import annotations

import pickle
import re

import pytest

from app.extensions import cache
from tests.conftest import csrf_from
from tests.test_respond_flow import pass_identity, path_of

CSRF_VALUE = re.compile(r'(name="csrf_token" type="hidden" value=")[^"]+"')


def form_page(client, invitation, lang="en", path: str | None = None) -> str:
    """The form page's HTML without its CSRF token (which changes between requests).

    Pass `path` to fetch the page twice through one link: each `path_of` signs anew, and a link
    signed a second later differs in its timestamp, and so does the page's action.
    """
    page = client.get(path or path_of(invitation), headers={"Accept-Language": lang})
    assert page.status_code == 200
    return CSRF_VALUE.sub(r'\1"', page.get_data(as_text=True))


def cached_blocks(app) -> list[str]:
    """Every question block in the fragment cache, as HTML."""
    with app.app_context():
        store = cache.cache  # cachelib's SimpleCache: {key: (expires, pickled value)}
        return [str(pickle.loads(value)) for _expires, value in store._cache.values()]


def verified(client, invitation):
    """This browser, having passed the invitation's identity check."""
    assert pass_identity(client, invitation).status_code == 303
    return client


@pytest.fixture
def suitability(app, publish, make_client, make_invitation):
    """Invitations to the built-in suitability review, whose texts name the client and product."""
    version = publish("suitability")

    def invite(name: str, product: str = "稳健理财1号"):
        return make_invitation(client=make_client(name=name), version=version,
                               context={"product_name": product, "product_risk": "R3"})

    return invite


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_page_built_from_cached_blocks_equals_one_rendered_in_full(app, client, suitability, lang):
    first, second = suitability("王秀英"), suitability("李建国")
    form_page(verified(client, first), first, lang)  # fills the cache
    assert cached_blocks(app), "the first page put no block in the cache"
    verified(client, second)
    link = path_of(second)
    from_cache = form_page(client, second, lang, path=link)
    with app.app_context():
        cache.clear()
    rendered_in_full = form_page(client, second, lang, path=link)
    assert from_cache == rendered_in_full


def test_cached_blocks_hold_no_clients_name_or_product(app, client, suitability):
    pages = {}
    for name, product in (("王秀英", "沪深300指数增强私募基金"), ("李建国", "国债逆回购")):
        invitation = suitability(name, product)
        pages[name] = form_page(verified(client, invitation), invitation, "zh-CN")
    assert "李建国" in pages["李建国"] and "王秀英" not in pages["李建国"]
    assert "国债逆回购" in pages["李建国"] and "沪深300" not in pages["李建国"]
    blocks = "".join(cached_blocks(app))
    assert blocks and not any(word in blocks for word in ("王秀英", "李建国", "沪深300", "国债逆回购"))


def save_draft(client, invitation, answers: dict) -> None:
    """Save answers without submitting, as the page's "save and continue later" button does."""
    page = client.get(path_of(invitation)).get_data(as_text=True)
    response = client.post(path_of(invitation), data={"csrf_token": csrf_from(page), "_action": "save", **answers})
    assert response.status_code == 200


# In the next two tests both clients have answered the first question, so the later questions are
# shown on both pages and their blank blocks share a cache key.
def test_a_saved_answer_shows_although_the_blank_block_is_cached(app, client, suitability):
    blank, answered = suitability("王秀英"), suitability("李建国")
    save_draft(verified(client, blank), blank, {"is_account_holder": "yes"})
    assert 'checked' not in re.search(r'<input[^>]*name="own_operation"[^>]*value="yes"[^>]*>',
                                      form_page(client, blank)).group()
    save_draft(verified(client, answered), answered, {"is_account_holder": "yes", "own_operation": "yes"})
    own_operation_yes = re.search(r'<input[^>]*name="own_operation"[^>]*value="yes"[^>]*>',
                                  form_page(client, answered)).group()
    assert "checked" in own_operation_yes


def test_an_unanswered_required_question_shows_its_error_after_a_submit(app, client, suitability):
    blank, failing = suitability("王秀英"), suitability("李建国")
    save_draft(verified(client, blank), blank, {"is_account_holder": "yes"})
    assert 'id="e-knows_fees"' not in form_page(client, blank)
    verified(client, failing)
    page = client.get(path_of(failing)).get_data(as_text=True)
    response = client.post(path_of(failing), data={"csrf_token": csrf_from(page), "_action": "submit",
                                                   "is_account_holder": "yes", "review_consent": "y"})
    assert response.status_code == 422
    assert 'id="e-knows_fees"' in response.get_data(as_text=True)


def test_a_block_shown_by_an_earlier_answer_is_not_taken_from_the_hidden_one(app, client, suitability):
    blank, answered = suitability("王秀英"), suitability("李建国")
    assert 'id="q-knows_fees" data-qid="knows_fees"\n     data-conditional="1" data-visible="0"' in \
        form_page(verified(client, blank), blank)
    save_draft(verified(client, answered), answered, {"is_account_holder": "yes"})
    assert 'id="q-knows_fees" data-qid="knows_fees"\n     data-conditional="1" data-visible="1"' in \
        form_page(client, answered)
