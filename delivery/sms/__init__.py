"""SMS: a provider interface, its adapters, and the 70-character message (one segment) with the short link."""
from __future__ import annotations

import os
from typing import Mapping

from delivery.sms.base import Receipt, SmsMessage, SmsProvider, compose_sms  # noqa: F401

PROVIDERS = ("file", "http", "aliyun", "tencent")


def setting(config: Mapping, name: str, default=None):
    """A delivery setting from the app config, then the environment, then the default."""
    value = config.get(name)
    if value is None:
        value = os.environ.get(name, default)
    return value


def provider_from_config(config: Mapping) -> SmsProvider:
    """The configured provider (SMS_PROVIDER: file — the embedded default —, http, aliyun, tencent)."""
    name = setting(config, "SMS_PROVIDER", "file")
    timeout = float(setting(config, "SMS_TIMEOUT_SECONDS", 10))
    if name == "file":
        from delivery.sms.file_sink import FileSink

        default_path = os.path.join(str(config.get("INSTANCE_TMP") or config.get("INSTANCE_PATH") or "instance"),
                                    "sms-outbox.jsonl")
        return FileSink(setting(config, "SMS_FILE_PATH", default_path))
    if name == "http":
        from delivery.sms.http_json import HttpJsonGateway

        return HttpJsonGateway(setting(config, "SMS_HTTP_URL"), setting(config, "SMS_HTTP_TOKEN", ""), timeout)
    if name == "aliyun":
        from delivery.sms.aliyun import AliyunSms

        return AliyunSms(
            access_key_id=setting(config, "ALIYUN_ACCESS_KEY_ID"),
            access_key_secret=setting(config, "ALIYUN_ACCESS_KEY_SECRET"),
            sign_name=setting(config, "ALIYUN_SMS_SIGN_NAME"),
            template_code=setting(config, "ALIYUN_SMS_TEMPLATE_CODE"),
            endpoint=setting(config, "ALIYUN_SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com/"),
            timeout=timeout,
        )
    if name == "tencent":
        from delivery.sms.tencent import TencentSms

        return TencentSms(
            secret_id=setting(config, "TENCENT_SECRET_ID"),
            secret_key=setting(config, "TENCENT_SECRET_KEY"),
            sdk_app_id=setting(config, "TENCENT_SMS_APP_ID"),
            sign_name=setting(config, "TENCENT_SMS_SIGN_NAME"),
            template_id=setting(config, "TENCENT_SMS_TEMPLATE_ID"),
            endpoint=setting(config, "TENCENT_SMS_ENDPOINT", "https://sms.tencentcloudapi.com/"),
            region=setting(config, "TENCENT_SMS_REGION", "ap-guangzhou"),
            timeout=timeout,
        )
    raise ValueError(f"SMS_PROVIDER: unknown provider '{name}' (one of {', '.join(PROVIDERS)})")
