"""Azure Table erasure: delete the entities the deliveries wrote.

Every delivery of the lead wrote one entity (PartitionKey the publisher id, RowKey the
delivery id), so the lookup names the table and those keys. Each entity is read (to
tell "deleted" from "already gone": `delete_entity` answers 404 as success) and then
deleted; a missing table or entity is nothing to delete ("absent"). Storage and
transport failures map as for writes (azure_table.failure_result): retryable for 408,
429 and 5xx, permanent for the rest; the first one answers for the rest of the batch.
"""

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import TableClient

from crm.connectors.azure_table import failure_for_batch, service_for, settings_from
from crm.connectors.base import ConfigurationError, ErasureRequest, Result, SendOptions


def _erase_one(table: TableClient, request: ErasureRequest) -> Result:
    partition = str(request.lookup.get("partition_key") or request.publisher_id)
    effect = "absent"
    for row_key in request.lookup.get("row_keys", []):
        try:
            table.get_entity(partition, str(row_key), select=["RowKey"])
        except ResourceNotFoundError:
            continue
        table.delete_entity(partition, str(row_key))
        effect = "deleted"
    return Result(request.delivery_id, "delivered", 204, erasure=effect)


class AzureTableEraser:
    kind = "azure-table"

    def erase(
        self, config: dict, requests: list[ErasureRequest], options: SendOptions
    ) -> list[Result]:
        if not requests:
            return []
        results: list[Result] = []
        try:
            connection, configured_table = settings_from(config)
            with service_for(connection, options) as service:
                for request in requests:
                    name = str(request.lookup.get("table") or configured_table)
                    results.append(_erase_one(service.get_table_client(name), request))
        except (AzureError, ValueError, ConfigurationError) as exc:
            # The rest of the batch would meet the same account, key or outage.
            failure = failure_for_batch(exc)
            results += [failure(request.delivery_id) for request in requests[len(results) :]]
        return results


eraser = AzureTableEraser()
