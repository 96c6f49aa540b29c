"""The status rules of Partner Center's Referrals API (reference §1.7), in plain Python.

Status moves only forward (New → Active → Closed); each status allows its own
substatuses; Won, Lost, Declined and Expired are terminal: no further update. The
publisher's four actions are moves of this table: accept (Active/Accepted), decline
(Closed/Declined with a reason), won and lost (Closed/Won, Closed/Lost).
"""

from dataclasses import dataclass

NEXT_STATUSES = {"New": ("New", "Active", "Closed"), "Active": ("Active", "Closed"), "Closed": ()}
SUBSTATUSES = {
    "New": ("Pending", "Received"),
    "Active": ("Accepted",),
    "Closed": ("Won", "Lost", "Declined", "Expired"),
}
TERMINAL_SUBSTATUSES = frozenset({"Won", "Lost", "Declined", "Expired"})

# Partner Center's decline and loss reasons (its co-sell CSV, codes 1 to 8); the API takes
# the reason as free text in statusReason, so the English label is what is sent.
DECLINE_REASONS = (
    ("budget", "Budget"),
    ("no-response", "No response"),
    ("other-vendor", "Chose another vendor"),
    ("requirement-not-met", "Requirement not met"),
    ("not-a-customer", "Not a customer"),
    ("timeline-too-short", "Timeline too short"),
    ("abuse", "Abuse, spam or phishing"),
    ("other", "Other"),
)


@dataclass(frozen=True)
class Action:
    """A publisher's move: where it may start from, and the status it sets."""

    name: str
    from_statuses: tuple[str, ...]
    status: str
    substatus: str


ACTIONS = {
    "accept": Action("accept", ("New",), "Active", "Accepted"),
    "decline": Action("decline", ("New", "Active"), "Closed", "Declined"),
    "won": Action("won", ("Active",), "Closed", "Won"),
    "lost": Action("lost", ("Active",), "Closed", "Lost"),
}


def transition_refusal(*, status: str, substatus: str, to_status: str, to_substatus: str) -> str:
    """Why Partner Center would refuse this move ("" when it allows it)."""
    if substatus in TERMINAL_SUBSTATUSES or status == "Closed":
        return "terminal"
    if to_status not in NEXT_STATUSES.get(status, ()):
        return "backwards"
    if to_substatus not in SUBSTATUSES[to_status]:
        return "substatus"
    return ""


def actions_allowed(*, status: str, substatus: str) -> list[str]:
    """The actions a referral in this state offers, in the order the page shows them."""
    return [
        action.name
        for action in ACTIONS.values()
        if status in action.from_statuses
        and not transition_refusal(
            status=status,
            substatus=substatus,
            to_status=action.status,
            to_substatus=action.substatus,
        )
    ]
