"""CRM connectors: one module per kind, each exposing `connector` (see base.Connector)."""

from importlib import import_module

from crm.connectors.base import (
    ConfigurationError,
    Connector,
    DeliveryPayload,
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


def connector_for(kind: str) -> Connector:
    return import_module(MODULES[kind]).connector


__all__ = [
    "ConfigurationError",
    "Connector",
    "DeliveryPayload",
    "Result",
    "SendOptions",
    "connector_for",
]
