"""Retention (GDPR Art. 5(1)(e)): each publisher's leads erased some months after their last
activity, by a daily beat task, through the erasure service (docs/privacy.md)."""
