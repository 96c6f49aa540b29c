"""Scrape /metrics as Prometheus does and read one sample."""

from prometheus_client.parser import text_string_to_metric_families


def samples_of(text: str) -> dict[tuple, float]:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(client, **headers) -> dict[tuple, float]:
    """Every sample of a scrape of /metrics."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content[:500]
    return samples_of(response.content.decode())


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Scrapes:
    """Two scrapes, before and after an event: what each series moved by."""

    def __init__(self, client):
        self.client = client
        self.before = scrape(client)

    def moved(self, name: str, **labels) -> float:
        after = scrape(self.client)
        return value(after, name, **labels) - value(self.before, name, **labels)
