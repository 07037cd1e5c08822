"""schemathesis hooks of the contract fuzz run (loaded through SCHEMATHESIS_HOOKS by .ci/fuzz/run)."""

import base64
import hashlib
import hmac
import json
import os
import re
import time
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


def _service_token(secret):
    """A service token as the worker signs one (API.md "Tokens"): HS256, five minutes."""
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    now = int(time.time())
    claims = {
        "sub": "worker",
        "typ": "service",
        "iss": "tessera-internal",
        "aud": "tessera-internal",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


if os.environ.get("FUZZ_SERVICE_SECRET"):

    @schemathesis.auth(refresh_interval=120)
    class ServiceToken:
        """Signs a fresh service token every two minutes for the internal pass.

        Service tokens live at most five minutes, so one token for the whole pass would bound the
        pass in time; with this provider the pass is bounded by its number of examples only.
        """

        def get(self, case, context):
            return _service_token(os.environ["FUZZ_SERVICE_SECRET"])

        def set(self, case, data, context):
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"


RESET_LINK = re.compile(r"reset-password\?token=([A-Za-z0-9_-]{43})")


def _fresh_reset_token():
    """Asks for a reset link for the run's reset user and reads the token from the e-mail.

    A reset token exists only in an e-mail, so without this every schema-valid body the fuzzer
    writes would be refused as a bad token and the route's positive data could never be checked.
    """
    import requests

    base = os.environ["FUZZ_BASE"]
    mail_api = os.environ["FUZZ_MAIL_API"]
    email = os.environ["FUZZ_RESET_EMAIL"]
    seen = {m["id"] for m in _mails_to(requests, mail_api, email)}
    requests.post(f"{base}/auth/forgot-password", json={"email": email}, timeout=10).raise_for_status()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for mail in _mails_to(requests, mail_api, email):
            if mail["id"] in seen:
                continue
            found = RESET_LINK.search(mail.get("text") or "")
            if found:
                return found.group(1)
        time.sleep(0.05)
    raise RuntimeError(f"no reset e-mail reached {email} within 30 s")


def _mails_to(requests, mail_api, email):
    mails = requests.get(f"{mail_api}/api/email", timeout=10).json()
    return [
        m
        for m in mails
        if any(r.get("address", "").lower() == email for r in (m.get("to") or []) + (m.get("envelope", {}).get("to") or []))
    ]


def _fresh_refresh_token():
    """Logs the run's user in and returns the new session's refresh token.

    A refresh token exists only in a login's answer, so without this every refresh the fuzzer
    writes would be a 401 and the route's positive data could never be checked.
    """
    import requests

    res = requests.post(
        f"{os.environ['FUZZ_BASE']}/auth/login",
        json={"email": os.environ["FUZZ_LOGIN_EMAIL"], "password": os.environ["FUZZ_LOGIN_PASSWORD"]},
        timeout=10,
    )
    res.raise_for_status()
    return res.json()["refreshToken"]


# Body fields whose valid values only the platform can hand out, by operation: (field, source).
REAL_VALUES = {
    ("POST", "/auth/reset-password"): ("token", _fresh_reset_token),
    ("POST", "/auth/refresh"): ("refreshToken", _fresh_refresh_token),
}


# Operations whose body may leave `refreshToken` out only in the web app's cookie mode
# (`X-Tessera-Session: cookie`, the token in the `tessera_refresh` cookie): a schema cannot tie a
# body field to a header, so the document marks it optional and a JSON-mode body without it is a
# documented 400.
SESSION_OPERATIONS = {("POST", "/auth/refresh"), ("POST", "/auth/logout")}


def _cookie_mode(case):
    return any(name.lower() == "x-tessera-session" and value == "cookie" for name, value in (case.headers or {}).items())


@schemathesis.hook
def before_call(context, case, **kwargs):
    """Gives every positive reset-password, refresh and logout case a real, unspent token.

    The body keeps everything else the fuzzer generated (the password at its edges of length and
    alphabet), so the positive-data check sees the route accept what its schema allows. A refresh
    or logout body without a token gets one where the request's mode reads it: the cookie in
    cookie mode (so that path is fuzzed with a live session too), else the body. Negative cases
    keep their generated token and must be refused.
    """
    if "FUZZ_BASE" not in os.environ:
        return
    operation = getattr(context, "operation", None)
    if operation is None:
        return
    key = (operation.method.upper(), operation.path)
    meta = getattr(case, "meta", None)
    if meta is None or str(meta.generation.mode) != "positive":
        return
    real = REAL_VALUES.get(key)
    if real is not None:
        field, source = real
        if isinstance(case.body, dict) and isinstance(case.body.get(field), str):
            case.body[field] = source()
    if key in SESSION_OPERATIONS and isinstance(case.body, dict) and not isinstance(case.body.get("refreshToken"), str):
        token = _fresh_refresh_token()
        if _cookie_mode(case):
            case.cookies = {**(case.cookies or {}), "tessera_refresh": token}
        else:
            case.body["refreshToken"] = token
