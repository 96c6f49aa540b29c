"""Marketo erasure: find the lead by email, then delete it.

1. `GET /rest/v1/leads.json?filterType=email&filterValues=<emails>&fields=id,email`
   finds the ids (up to 300 emails a call; an email may match several leads, and every
   one is deleted: Marketo deduplicates on email only by convention);
2. `POST /rest/v1/leads/delete.json` with `{"input": [{"id": N}, …]}` (up to 300 ids a
   call) deletes them; a result's status "deleted" or a reason 1004 (lead not found) is
   success, any other skip is permanent for that lead.
No lead found means nothing to delete ("absent"). The top-level errors are those of
writes (marketo.py): 601/602 refresh the token once, 606 and the other transient codes
are retryable, and a failed call stops the batch.
"""

import json
from dataclasses import replace

from crm.connectors.base import ErasureRequest, Result
from crm.connectors.marketo import LEADS_PATH, MarketoConnector, MarketoSession
from crm.connectors.oauth import results_by_call

DELETE_PATH = "/rest/v1/leads/delete.json"
MAX_PER_CALL = 300  # emails per lookup, ids per delete
NOT_FOUND = "1004"


class EraseSession(MarketoSession):
    def ids_by_email(self, emails: list[str]) -> dict[str, list[int]]:
        params = {"filterType": "email", "filterValues": ",".join(emails), "fields": "id,email"}
        found: dict[str, list[int]] = {email.lower(): [] for email in emails}
        for record in self.call("GET", LEADS_PATH, params=params).get("result") or []:
            email = str(record.get("email") or "").lower()
            if email in found and isinstance(record.get("id"), int):
                found[email].append(record["id"])
        return found

    def delete(self, ids: list[int]) -> dict[int, str]:
        """id -> "" when deleted or already gone, else Marketo's reason."""
        answer = self.call("POST", DELETE_PATH, json={"input": [{"id": i} for i in ids]})
        outcome: dict[int, str] = {}
        for entry in answer.get("result") or []:
            reasons = entry.get("reasons") or []
            gone = entry.get("status") == "deleted" or any(
                str(r.get("code")) == NOT_FOUND for r in reasons
            )
            outcome[entry.get("id")] = "" if gone else json.dumps(reasons)[:300]
        return outcome

    def erase_chunk(self, chunk: list[ErasureRequest]) -> list[Result]:
        emails = sorted({str(r.lookup.get("email", "")).lower() for r in chunk} - {""})
        ids = self.ids_by_email(emails) if emails else {}
        wanted = sorted({i for found in ids.values() for i in found})
        refused: dict[int, str] = {}
        for start in range(0, len(wanted), MAX_PER_CALL):
            refused.update(self.delete(wanted[start : start + MAX_PER_CALL]))
        results = []
        for request in chunk:
            email = str(request.lookup.get("email", "")).lower()
            if not email:  # nothing to look it up by: a person must look for it
                results.append(Result(request.delivery_id, "delivered", erasure="unidentified"))
                continue
            mine = ids.get(email, [])
            reasons = [refused.get(i, "no result") for i in mine if refused.get(i, "no result")]
            if reasons:
                error = f"Marketo did not delete the lead: {'; '.join(reasons)}"
                results.append(Result(request.delivery_id, "permanent", 200, error=error[:500]))
            else:
                effect = "deleted" if mine else "absent"
                answer = json.dumps({"ids": mine})
                found = Result(request.delivery_id, "delivered", 200, response_excerpt=answer)
                results.append(replace(found, erasure=effect))
        return results

    def erase(self, requests: list[ErasureRequest]) -> list[Result]:
        return results_by_call(requests, MAX_PER_CALL, self.erase_chunk)


class MarketoEraser(MarketoConnector):
    session_class = EraseSession


eraser = MarketoEraser()
