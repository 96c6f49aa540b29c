"""CRM connectors: one module per kind, each exposing `connector` (see base.Connector)."""

from importlib import import_module

from crm.connectors.base import (
    ConfigurationError,
    Connector,
    DeliveryPayload,
    Eraser,
    ErasureRequest,
    Result,
    SendOptions,
)

MODULES = {
    "https": "crm.connectors.https",
    "salesforce": "crm.connectors.salesforce",
    "dynamics365": "crm.connectors.dynamics365",
    "marketo": "crm.connectors.marketo",
    "azure-table": "crm.connectors.azure_table",
}


# The kinds that can act on an erasure themselves; the others are notified by email.
ERASERS = {
    "https": "crm.connectors.https",
    "dynamics365": "crm.connectors.dynamics365_erase",
    "marketo": "crm.connectors.marketo_erase",
    "azure-table": "crm.connectors.azure_table_erase",
}


def connector_for(kind: str) -> Connector:
    return import_module(MODULES[kind]).connector


def eraser_for(kind: str) -> Eraser:
    return import_module(ERASERS[kind]).eraser


__all__ = [
    "ConfigurationError",
    "Connector",
    "DeliveryPayload",
    "Eraser",
    "ErasureRequest",
    "Result",
    "SendOptions",
    "connector_for",
    "eraser_for",
]
