"""schemathesis hooks of the contract fuzz run (loaded through SCHEMATHESIS_HOOKS by .ci/fuzz/run)."""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def before_call(context, case, kwargs):
    """Gives every valid `Idempotency-Key` of `POST /tasks` a fresh value.

    The fuzzer repeats header values, and a repeated key answers with the first response (API.md:
    retries return the first result) even when a later DELETE removed that task, which the
    stateful "created resource is available" check reads as a bug. Invalid keys are left as they
    are, so negative cases still expect their 400; replays themselves are covered by
    domains/task/tests/api/idempotency.rs.
    """
    if case.method.upper() != "POST" or case.path != "/tasks" or not case.headers:
        return
    for name in list(case.headers):
        value = case.headers[name]
        if name.lower() == "idempotency-key" and isinstance(value, str) and VALID_KEY.fullmatch(value):
            case.headers[name] = f"fuzz-{uuid.uuid4()}"
