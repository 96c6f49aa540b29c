"""A paginator for tables of millions of rows, whose count never scans the whole table.

Django's Paginator runs `SELECT COUNT(*)` over the whole filtered queryset on every page,
which on a million leads takes longer than the page itself. This one counts at most
`count_limit + 1` rows (a COUNT over a LIMIT subquery). Past that limit, an unfiltered
queryset on PostgreSQL reports the planner's estimate (`pg_class.reltuples`), and a
filtered one reports "more than `count_limit`".
"""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class CountKind:
    EXACT = "exact"
    ESTIMATE = "estimate"  # the planner's estimate of the whole table
    LOWER_BOUND = "lower_bound"  # at least `count`; counting stopped there


class CheapCountPaginator(Paginator):
    """Counts exactly up to `count_limit`, estimates or bounds the count beyond it."""

    count_limit = 10_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.count_kind = CountKind.EXACT

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if not hasattr(object_list, "query"):
            return len(object_list)
        capped = object_list.order_by()[: self.count_limit + 1].count()
        if capped <= self.count_limit:
            self.count_kind = CountKind.EXACT
            return capped
        estimate = self._table_estimate() if _is_whole_table(object_list) else None
        if estimate is not None:
            self.count_kind = CountKind.ESTIMATE
            return max(estimate, capped)
        self.count_kind = CountKind.LOWER_BOUND
        return capped

    @property
    def count_is_estimate(self) -> bool:
        return self.count is not None and self.count_kind == CountKind.ESTIMATE

    @property
    def count_is_lower_bound(self) -> bool:
        return self.count is not None and self.count_kind == CountKind.LOWER_BOUND

    def _table_estimate(self) -> int | None:
        """The row count PostgreSQL's statistics hold for the table (None elsewhere)."""
        connection = connections[self.object_list.db]
        if connection.vendor != "postgresql":
            return None
        table = connection.ops.quote_name(self.object_list.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table]
            )
            row = cursor.fetchone()
        # -1 means the table was never analyzed: no estimate to give.
        if row is None or row[0] is None or row[0] < 0:
            return None
        return int(row[0])


def _is_whole_table(queryset) -> bool:
    """True when the queryset selects every row of its table (no filter, no DISTINCT)."""
    query = queryset.query
    return (
        not query.where
        and not query.distinct
        and not query.combinator
        and query.low_mark == 0
        and query.high_mark is None
    )
