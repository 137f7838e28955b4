"""The email written directly as bytes parses back, with policy.default, to what was given."""
from email import message_from_bytes, policy

import pytest

from delivery.email import SmtpSettings, build_message

SETTINGS = SmtpSettings(sender="review@firm.example", sender_name="汇方证券 回访中心")


@pytest.mark.parametrize("subject", [
    "Client review questionnaire",
    "汇方证券客户回访问卷 / Client review questionnaire，请在截止日期前完成，谢谢您的配合与支持" * 2,
])
def test_the_message_parses_to_the_given_fields_and_parts(subject):
    text = "尊敬的张三：\n\n请点击链接作答 https://r.example/q/abc\n\nDear client"
    html = "<p>尊敬的张三</p><a href=\"https://r.example/q/abc\">开始</a>"
    message = build_message(SETTINGS, "c1@example.com", subject, text, html, "hf0123456789abcdef")
    parsed = message_from_bytes(message.data, policy=policy.default)
    assert str(parsed["Subject"]) == subject
    assert (parsed["From"].addresses[0].display_name, parsed["From"].addresses[0].addr_spec) == (
        "汇方证券 回访中心", "review@firm.example")
    assert str(parsed["To"]) == "c1@example.com" and parsed["X-Huifang-Attempt"] == "hf0123456789abcdef"
    assert parsed["Message-ID"] == message.message_id and parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n") == text
    assert parsed.get_body(("html",)).get_content().rstrip("\r\n") == html
    assert all(len(line) <= 998 for line in message.data.split(b"\r\n"))


@pytest.mark.parametrize("to", ["a@example.com\r\nBcc: x@evil.example", "two@example.com, three@example.com", "nobody"])
def test_a_recipient_that_is_not_one_address_is_refused(to):
    with pytest.raises(ValueError):
        build_message(SETTINGS, to, "s", "t", "<p>t</p>", "hf1")


def test_a_line_break_in_the_subject_cannot_add_a_header():
    message = build_message(SETTINGS, "c1@example.com", "Hello\r\nBcc: x@evil.example", "t", "<p>t</p>", "hf1")
    parsed = message_from_bytes(message.data, policy=policy.default)
    assert parsed["Bcc"] is None and str(parsed["Subject"]) == "Hello Bcc: x@evil.example"
