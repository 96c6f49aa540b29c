"""An Azure Table read in a process of its own, which pauses after each committed page so
that a test can SIGKILL it mid-read (tests/inbound/test_table_reader_kill.py).

Usage: python -m tests.inbound.table_reader_process SOURCE_ID PAGE_SIZE PAUSE_SECONDS
It prints "page <n new items>" once each page is committed.
"""

import os
import sys
import time

import django


def main(source_id: int, page_size: int, pause: float) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from django.db import transaction

    from inbound import table

    store = table._page_store

    def store_then_pause(source, entities):
        ids = store(source, entities)

        def committed() -> None:
            print(f"page {len(ids)}", flush=True)
            time.sleep(pause)

        transaction.on_commit(committed)
        return ids

    table._page_store = store_then_pause
    table.table_source_read(source_id=source_id, page_size=page_size)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
