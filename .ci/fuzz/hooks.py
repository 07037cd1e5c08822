"""schemathesis hooks of the contract fuzz run (loaded through SCHEMATHESIS_HOOKS by .ci/fuzz/run)."""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def map_headers(context, headers):
    """Gives every valid generated `Idempotency-Key` of `POST /tasks` a fresh value.

    The fuzzer repeats header values, and a repeated key answers with the first response (API.md:
    retries return the first result) even when a later DELETE removed that task, which the
    stateful "created resource is available" check reads as a bug. Invalid keys are kept, so
    negative cases still expect their 400; replays themselves are tested in
    domains/task/tests/api/idempotency.rs.
    """
    operation = getattr(context, "operation", None)
    if operation is None or operation.method.upper() != "POST" or operation.path != "/tasks":
        return headers
    if not headers:
        return headers
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and VALID_KEY.fullmatch(value):
            headers[name] = f"fuzz-{uuid.uuid4()}"
    return headers
