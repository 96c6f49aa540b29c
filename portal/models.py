"""The tenancy models under their public path, for operators' scripts and the other apps:
`from portal.models import Publisher`. They live in `portal.tenancy.models`."""

from portal.tenancy.models import Membership, Publisher

__all__ = ["Membership", "Publisher"]
