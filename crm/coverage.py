"""Which targets cover a publisher's listings, cached per process with intake's reference
data (leads.intake.reference, family "crm"): a target's save or delete, or a change of its
chosen listings, is seen by the next request in every process."""

from crm.models import CrmTarget
from crm.selectors import Coverage, targets_covering
from leads.intake import reference


def coverage_watch() -> None:
    """Connect the targets' signals to the cache (CrmConfig.ready)."""
    reference.watch(family="crm", models=[CrmTarget], m2m=[CrmTarget.listings.through])


def targets_covering_cached(*, publisher_ids: set[int]) -> list[Coverage]:
    """`crm.selectors.targets_covering`, from the cache: the publishers' targets and the
    field-seller ones, each once, in target order."""

    def load(missing: list[int]) -> dict[int, tuple[Coverage, ...]]:
        coverages = targets_covering(publisher_ids=set(missing))
        return {
            publisher_id: tuple(c for c in coverages if c.publisher_id in (publisher_id, None))
            for publisher_id in missing
        }

    found = reference.cached_many(family="crm", keys=publisher_ids, load=load, default=())
    targets = {c.target_id: c for coverages in found.values() for c in coverages}
    return [targets[target_id] for target_id in sorted(targets)]
