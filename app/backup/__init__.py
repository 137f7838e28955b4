"""Backups of the review data, checked by restoring them, and restore (7.5.2).

T/SAC 002—2024 7.5.2: 建立适度的冗余备份机制，制定系统应急处理方案……确保客户回访电子数据的安全完整
(keep redundant backups, have an emergency plan, keep the review data safe and whole). The
database is the whole record (responses, registrations, the archive register, the audit chain);
SECRET_KEYS is kept apart from it (README, "Serving a firm").
"""
