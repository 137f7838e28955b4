"""Print batches, checked as a person would: the text, the QR code, the window, the page numbers."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.letters.models import BatchStatus, Letter, LetterBatch, LetterStatus
from app.letters.service import Selection, create_batch, envelopes, queue_letter, run_batch
from tests.conftest import csrf_from
from tests.letters.conftest import page_count, pdf_text, qr_codes, word_boxes


def batch_file(batch, name=None) -> Path:
    return Path(batch.output_dir) / (name or batch.files[0])


def test_letter_shows_name_address_and_questions(printed_letter, make_client):
    letter, batch = printed_letter(make_client(name="欧阳明月", postal_address="北京市海淀区中关村大街27号"))
    text = pdf_text(batch_file(batch))
    assert "欧阳明月" in text and "北京市海淀区中关村大街27号" in text
    assert "请问账户是您本人操作吗？" in text and "稳健理财1号" in text and letter.code in text


def test_qr_code_opens_that_clients_invitation(printed_letter, client, tmp_path):
    letter, batch = printed_letter()
    codes = qr_codes(batch_file(batch), 1, tmp_path)
    url = next(code for code in codes if code.startswith("http"))
    response = client.get(urlsplit(url).path)
    assert response.status_code == 303 and response.headers["Location"].endswith("/identity")
    assert client.get(response.headers["Location"]).status_code == 200


def test_qr_code_is_the_signed_link_of_the_letters_invitation(printed_letter, tmp_path):
    from app.reviews.service import link_signer

    letter, batch = printed_letter()
    url = next(code for code in qr_codes(batch_file(batch), 1, tmp_path) if code.startswith("http"))
    assert link_signer().verify(urlsplit(url).path.rsplit("/", 1)[1]) == letter.invitation.public_id


def test_address_block_lies_in_the_envelope_window(printed_letter, make_client):
    letter, batch = printed_letter(make_client(name="王五", postal_address="上海市浦东新区世纪大道100号"))
    window = envelopes()["dl"]
    words = word_boxes(batch_file(batch))
    [address] = [box[1:] for box in words if box[0] == "上海市浦东新区世纪大道100号"]
    assert window.contains(*address), address
    # The name is printed twice on the cover: under the address, in the window, and in the greeting.
    names = [box[1:] for box in words if box[0] == "王五"]
    in_window = [box for box in names if window.contains(*box)]
    assert len(names) == 2 and len(in_window) == 1
    assert in_window[0][1] >= address[3] - 0.5, "the name comes under the address"


def test_page_numbers_count_per_letter(letter_invitation, letter_app):
    first, second = letter_invitation(), letter_invitation()
    batch = create_batch(Selection(invitation_ids=[first.id, second.id]), "test", enqueue_job=False)
    db.session.commit()
    batch = run_batch(batch.id)
    path = batch_file(batch)
    per_letter = page_count(path) // 2
    assert per_letter >= 2 and page_count(path) == 2 * per_letter
    footers = re.findall(r"第\s*(\d+)\s*页\s*共\s*(\d+)\s*页", pdf_text(path))
    assert footers == [(str(n), str(per_letter)) for n in range(1, per_letter + 1)] * 2


def test_letter_id_is_on_every_page(printed_letter):
    letter, batch = printed_letter()
    pages = pdf_text(batch_file(batch)).split("\f")
    assert all(letter.code in page for page in pages if page.strip())


def test_manifest_lists_each_printed_letter(printed_letter):
    letter, batch = printed_letter()
    rows = list(csv.DictReader(io.StringIO(batch_file(batch, "manifest.csv").read_text(encoding="utf-8-sig"))))
    assert [(r["letter_id"], r["client_account"], r["file"], int(r["pages"])) for r in rows] == [
        (letter.code, letter.invitation.client.account, batch.files[0], letter.pages)]


def test_client_without_postal_address_is_listed_not_printed(letter_invitation, make_client, letter_app):
    good = letter_invitation()
    bad = letter_invitation(client=make_client(postal_address=None))
    batch = create_batch(Selection(invitation_ids=[good.id, bad.id]), "test", enqueue_job=False)
    db.session.commit()
    batch = run_batch(batch.id)
    assert batch.printed == 1
    assert batch.skipped == [{"invitation_id": bad.id, "client_account": bad.client.account,
                              "reason": "no postal address"}]
    assert "no postal address" in batch_file(batch, "summary.txt").read_text(encoding="utf-8")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Letter)) == 1


def test_retired_version_is_not_printed(letter_invitation, letter_app):
    from app.definitions.service import retire_version

    invitation = letter_invitation()
    retire_version(invitation.version, "test")
    batch = create_batch(Selection(invitation_ids=[invitation.id]), "test", enqueue_job=False)
    db.session.commit()
    batch = run_batch(batch.id)
    assert batch.printed == 0 and "retired" in batch.skipped[0]["reason"]


def test_queued_letters_are_printed_by_a_queued_batch(letter_invitation, letter_app):
    invitation = letter_invitation()
    queue_letter(invitation.id)
    db.session.commit()
    code = db.session.scalars(sa.select(Letter.code)).one()
    batch = create_batch(Selection(queued_only=True), "test", enqueue_job=False)
    db.session.commit()
    run_batch(batch.id)
    letter = db.session.scalars(sa.select(Letter)).one()
    assert letter.code == code and letter.status is LetterStatus.PRINTED and letter.print_count == 1


def test_console_batch_renders_in_the_background_job(client, login, letter_invitation):
    from app.jobs.service import run_due_jobs

    login()
    invitation = letter_invitation()
    page = client.get("/console/letters/")
    response = client.post("/console/letters/batches", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "invitation_ids": str(invitation.id), "envelope": "c5"})
    assert response.status_code == 303
    batch_url = response.headers["Location"]
    assert client.get(batch_url + "/status").get_json()["status"] == "queued"
    assert run_due_jobs() == 1
    status = client.get(batch_url + "/status").get_json()
    assert status["status"] == "done" and status["rendered"] == 1 == status["printed"]


def test_batch_download_holds_pdfs_manifest_and_summary(client, login, printed_letter):
    login()
    _letter, batch = printed_letter()
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/console/letters/batches/{batch.id}/download").data))
    names = {Path(n).name for n in archive.namelist()}
    assert names == {*batch.files, "manifest.csv", "summary.txt", "summary.json"}


def test_creating_a_batch_with_nothing_selected_changes_nothing(client, login):
    login()
    page = client.get("/console/letters/")
    response = client.post("/console/letters/batches", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 422 and "filter" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LetterBatch)) == 0


@pytest.mark.parametrize("chunk_size", ["0", "²", "-5", "ten", "5001"])
def test_a_chunk_size_that_is_not_a_whole_number_from_1_to_5000_is_refused(client, login, letter_invitation,
                                                                           chunk_size):
    login()
    invitation = letter_invitation()
    page = client.get("/console/letters/")
    response = client.post("/console/letters/batches", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "invitation_ids": str(invitation.id),
        "chunk_size": chunk_size})
    assert response.status_code == 422 and "from 1 to 5000" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LetterBatch)) == 0


def test_a_chunk_size_of_zero_from_the_command_line_is_refused(letter_invitation):
    from app.letters.service import LetterError

    invitation = letter_invitation()
    with pytest.raises(LetterError) as raised:
        create_batch(Selection(invitation_ids=[invitation.id]), "test", chunk_size=0, enqueue_job=False)
    assert raised.value.field == "chunk_size"


def test_unknown_envelope_is_refused(letter_invitation):
    import pytest

    from app.letters.service import LetterError

    invitation = letter_invitation()
    with pytest.raises(LetterError) as raised:
        create_batch(Selection(invitation_ids=[invitation.id]), "test", envelope="b4", enqueue_job=False)
    assert raised.value.field == "envelope"


def test_reprint_of_a_batch_keeps_the_letter_ids(printed_letter, letter_app):
    from app.letters.service import reprint_batch

    letter, batch = printed_letter()
    again = reprint_batch(batch, "test", enqueue_job=False)
    db.session.commit()
    again = run_batch(again.id)
    assert again.reprint_of_id == batch.id and letter.code in pdf_text(batch_file(again))
    db.session.refresh(letter)
    assert letter.print_count == 2


def test_single_letter_reprint_returns_its_pdf(client, login, printed_letter, make_client, tmp_path):
    login()
    letter, _batch = printed_letter(make_client(name="欧阳明月"))
    page = client.get("/console/letters/")
    response = client.post("/console/letters/reprint", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "letter_id": letter.code.lower().replace("-", "")})
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    # Laid out on its own: the placeholders are written into the questionnaire's sentences.
    (tmp_path / "reprint.pdf").write_bytes(response.data)
    text = pdf_text(tmp_path / "reprint.pdf").replace(" ", "")
    assert "请问您是欧阳明月本人" in text and "“稳健理财1号”" in text and letter.code in text


def test_reprint_of_an_unknown_letter_id_is_404(client, login):
    login()
    page = client.get("/console/letters/")
    response = client.post("/console/letters/reprint", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "letter_id": "HL-2222-2222"})
    assert response.status_code == 404


def test_cli_print_renders_a_batch_with_a_progress_bar(letter_app, letter_invitation):
    invitation = letter_invitation()
    result = letter_app.test_cli_runner().invoke(args=["letters", "print", f"invitations:{invitation.id}"])
    assert result.exit_code == 0, result.output
    assert re.search(r"1 letter\(s\), \d+ page\(s\), 1 file\(s\)", result.output)
    assert db.session.scalars(sa.select(LetterBatch)).one().status is BatchStatus.DONE


def test_cli_print_without_selection_fails_clearly(letter_app):
    result = letter_app.test_cli_runner().invoke(args=["letters", "print"])
    assert result.exit_code != 0 and "selection" in result.output
