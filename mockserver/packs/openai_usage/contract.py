"""The OpenAI Usage API's contract profile: what `mockserver contract --api openai_usage` (and
tests/contract/test_schemathesis_openai_usage.py) need to know to judge a server by its spec."""

from __future__ import annotations

import time
import typing as t

from mockserver.contract.profile import Case, Profile, Response

ADMIN_KEY = "sk-admin-mockserver"  # the mock's well-known admin key (fixtures/openai_usage/organization.yaml)
# The documented per-bucket_width maxima of `limit` on the usage endpoints; costs' 180 is in the schema.
LIMIT_MAXIMA = {"1m": 1440, "1h": 168, "1d": 31}
# The time rules compare with the server's "now", which the caller's clock may trail or lead a little.
CLOCK_SLACK = 30


def profile(now: t.Callable[[], float] = time.time, clock_slack: float = CLOCK_SLACK) -> Profile:
    """`now`: the server's clock as the caller knows it (a test with a frozen clock passes it, and
    no slack)."""
    return Profile(
        name="openai_usage", dialect="openai",
        auth_scheme="AdminApiKeyAuth", mock_credentials=lambda: {"AdminApiKeyAuth": {"bearer": ADMIN_KEY}},
        refusal=refusal_rules(now, clock_slack),
        # Read-only: nothing is created, so there is nothing to chain and the spec has no links.
        stateful_note="openai_usage is read-only: its spec has no OpenAPI links, so the stateful phase "
                      "has nothing to chain (schemathesis may still infer a few)",
    )


def refusal_rules(now: t.Callable[[], float], slack: float) -> t.Callable[[Case, Response], str | None]:
    """A 400 for a schema-valid request must name (`error.param`) a rule the spec documents that the
    schema cannot state, and the request must break it: `limit` above the per-bucket_width maximum,
    an empty start_time..end_time range (end_time defaults to now), a `page` cursor this endpoint
    did not issue. Every other documented 4xx (429) is the server's to give."""
    def refusal(case: Case, response: Response) -> str | None:
        if response.status_code != 400:
            return None
        param = _error_param(response)
        query = case.query if isinstance(case.query, dict) else {}
        try:
            if _breaks_rule(param, case.path, query, now(), slack):
                return None
        except (KeyError, TypeError, ValueError):
            pass
        return f"schema-valid request refused with 400 for no documented rule (param {param!r}): {response.text[:300]}"

    return refusal


def _error_param(response: Response) -> t.Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("param") if isinstance(error, dict) else None


def _breaks_rule(param: t.Any, path: str, query: dict, now: float, slack: float) -> bool:
    """Whether the request breaks the documented rule `param` names."""
    if param == "limit" and not path.endswith("/costs"):
        width = query.get("bucket_width", "1d")
        return "limit" in query and int(query["limit"]) > LIMIT_MAXIMA.get(width, 0)
    if param == "end_time":  # end_time (default: now) must be after start_time
        start = int(query["start_time"])
        if "end_time" in query:
            return int(query["end_time"]) <= start
        return start >= now - slack
    if param == "start_time":  # without an end_time, a start_time at or after now leaves no range
        return "end_time" not in query and int(query["start_time"]) >= now - slack
    return param == "page" and "page" in query  # generated text is never a cursor it issued
