"""System status: whether the parts a firm relies on are working (7.5.2).

The standard's 7.5.2 asks for 冗余备份机制 and 系统应急处理方案 so that review data stays 安全完整.
A backup no one has restored is no backup, and a background worker that has stopped loses no data
but holds every callback, reminder and letter batch back without a word. This area answers, for
administrators and auditors, for monitoring (`flask status`, exit 1 on a problem) and for a load
balancer (`GET /healthz`): when was the newest backup that a check proved taken, did the last
check fail, did the newest walk of the audit chain (7.5.1) find it whole, is the worker running,
has a job given up. And since a page helps only someone who looks, `alerts` e-mails the firm's
operators when that changes (the worker once a minute, `flask status --alert` from cron).
"""
