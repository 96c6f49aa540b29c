"""Tenancy, the bottom layer: the publisher (the tenant), who may act for it, and the
current publisher of a request. It imports no other app of the project."""
