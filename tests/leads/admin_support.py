"""Helpers shared by the leads admin test modules."""


def messages_of(response) -> list[str]:
    """The texts of the messages the admin showed."""
    return [str(message) for message in response.context["messages"]]


def run_action(client, url: str, action: str, pks) -> object:
    """Post an admin changelist action on the rows `pks` and follow its redirect."""
    return client.post(
        url, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True
    )
