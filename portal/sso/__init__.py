"""Single sign-on with OpenID Connect, and TOTP two-factor for staff (docs/sso.md)."""
