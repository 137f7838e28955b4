"""The letters area's configuration keys and their defaults (override in the app config or environment)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from flask import current_app

DEFAULTS = {
    # Where batches are written: <dir>/batch-<id>/letters-0001.pdf, manifest.csv, summary.txt.
    "LETTER_OUTPUT_DIR": os.environ.get("LETTER_OUTPUT_DIR"),
    # Extra or changed envelope windows: {"key": {"label", "left_mm", "top_mm", "width_mm", "height_mm"}}.
    "LETTER_ENVELOPES": json.loads(os.environ.get("LETTER_ENVELOPES", "{}")),
    "LETTER_DEFAULT_ENVELOPE": os.environ.get("LETTER_DEFAULT_ENVELOPE", "dl"),
    "LETTER_CHUNK_SIZE": int(os.environ.get("LETTER_CHUNK_SIZE", "50")),  # letters per PDF for the print shop
    "LETTER_PROCESSES": int(os.environ["LETTER_PROCESSES"]) if os.environ.get("LETTER_PROCESSES") else None,
    "LETTER_LANG": os.environ.get("LETTER_LANG", "zh-CN"),
    "LETTER_TIMEZONE": os.environ.get("LETTER_TIMEZONE", "Asia/Shanghai"),  # dates printed on letters
    "LETTER_DEPARTMENT": os.environ.get("LETTER_DEPARTMENT", "客户回访中心"),
    "LETTER_FIRM_ADDRESS": os.environ.get("LETTER_FIRM_ADDRESS", "上海市浦东新区银城中路200号 邮编200120"),
    "LETTER_RETURN_ADDRESS": os.environ.get(
        "LETTER_RETURN_ADDRESS", "200120 上海市浦东新区银城中路200号 汇方证券客户回访中心（收）"),
    "LETTER_WEBSITE": os.environ.get("LETTER_WEBSITE", ""),
    # The privacy notice printed on every cover page (7.3.5 d: tell clients how data is processed).
    "LETTER_PRIVACY_NOTICE": {
        "zh-CN": os.environ.get(
            "LETTER_PRIVACY_NOTICE_ZH",
            "我们仅使用您的姓名和通信地址寄送本函，仅使用您的答复开展客户回访和合规管理，不用于营销。"
            "您的答复将作为回访记录按规定保存不少于20年，并依法采取措施保护您的个人信息安全。"
            "您有权查询、更正您的个人信息；如有疑问，请致电客户服务热线。"),
        "en": os.environ.get(
            "LETTER_PRIVACY_NOTICE_EN",
            "We use only your name and postal address to send this letter, and your answers only for client "
            "reviews and compliance work, never for marketing. Your answers are kept as review records for at "
            "least 20 years, as the rules require, and protected as the law requires. You may ask to see or "
            "correct your personal information; call our service line with any question."),
    },
    # The max size of an uploaded scan (bytes); the app's MAX_CONTENT_LENGTH caps the request too.
    "LETTER_SCAN_MAX_BYTES": int(os.environ.get("LETTER_SCAN_MAX_BYTES", str(10 * 1024 * 1024))),
}


def setting(key: str):
    """The configured value of a letters key, or its default."""
    return current_app.config.get(key, DEFAULTS[key])


def output_root() -> Path:
    """The folder batches are written to: LETTER_OUTPUT_DIR, else letters/ in the instance folder."""
    configured = setting("LETTER_OUTPUT_DIR")
    if configured:
        return Path(configured)
    return Path(current_app.config.get("INSTANCE_TMP") or current_app.instance_path) / "letters"
