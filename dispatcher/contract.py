"""The vocabulary of the Unico IDCloud webhook contract (see shared/contract.md).

Both sides of the wire use these names: the payload builders that play the platform and the
sandbox receiver that validates what arrives. Keeping them in one module means a typo in an enum
value cannot make the two sides agree on something the platform never sends.
"""

from __future__ import annotations

from typing import Final, Literal

Flow = Literal["by-unico", "by-client"]

PayloadProfile = Literal["minimal", "current"]

# By Unico ------------------------------------------------------------------------------------
STATE_FINISHED: Final = "PROCESS_STATE_FINISHED"
# Only FINISHED is notified today; the others exist in GetProcess.
KNOWN_STATES: Final = frozenset({"PROCESS_STATE_CREATED", "PROCESS_STATE_FAILED", STATE_FINISHED})

RESULTS: Final = ("ok", "expired", "invalid_identity")

PROCESS_FLOWS: Final = (
    "idlive", "id", "idlivetrust", "idtrust", "idunicodocs", "idunicosign", "idunicodocssign",
    "idtrustdocs", "idtrustsign", "idtrustdocssign", "idtoken", "idtokentrust", "idtokensign",
)  # fmt: skip

LAST_EVENTS: Final = {
    "EVENT_TYPE_PROCESS_CREATED": "Process created",
    "EVENT_TYPE_QR_CODE_READ": "QR code read",
    "EVENT_TYPE_PROCESS_STARTED_BY_USER": "Process started by user",
    "EVENT_TYPE_IDENTITY_VALIDATION_STEP_FINISHED": "Identity validation step finished",
    "EVENT_TYPE_DOCUMENT_STEP_STARTED": "Document step started",
    "EVENT_TYPE_DOCUMENT_PHOTO_CAPTURED": "Document photo captured",
    "EVENT_TYPE_DOCUMENT_UPLOADED_FROM_GALLERY": "Document uploaded from gallery",
    "EVENT_TYPE_DOCUMENT_STEP_FINISHED": "Document step finished",
    "EVENT_TYPE_SESSION_ENDED": "Session ended by timeout or by new session created",
    "EVENT_TYPE_ERROR_ON_DOCUMENT_STEP": "Error on document step",
}

# By Client -----------------------------------------------------------------------------------
# 1 (processing) is never notified.
NOTIFIED_STATUSES: Final = (2, 3, 4, 5)
FINAL_STATUSES: Final = (3, 4, 5)
