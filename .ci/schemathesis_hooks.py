"""Schemathesis hooks for the local gateway run (.ci/schemathesis.sh).

- `GET /system/logs?follow=true` streams new lines until the client goes away, as `faas-cli logs`
  expects (openfaas/faas-provider logs/handler.go); schemathesis reads every response to its
  end, so the fuzz run asks for `follow=false`. The follow stream is tested in
  harness/tests/gateway_http.rs.
- `application/x-ndjson` (the logs stream): the spec gives one `LogEntry` schema for the whole
  body. Every line must be a JSON object with the same fields and field types as the first,
  which schemathesis then validates against `LogEntry`; an empty stream has nothing to validate.
- `GET /system/secrets`: the spec (api-docs/spec.openapi.yml) gives one `SecretDescription`
  object for the 200 answer, but faas-netes answers a JSON array of them (pkg/handlers/secrets.go
  lists `[]types.Secret`) and faas-cli decodes an array (proxy/secret.go, GetSecretList), so the
  local gateway answers an array. The schema loaded here says so: an array whose every item is
  validated against `SecretDescription`. Nothing else in the vendored spec is changed.
"""

import json

import schemathesis


@schemathesis.hook
def before_load_schema(ctx, raw_schema):
    ok = raw_schema["paths"]["/system/secrets"]["get"]["responses"]["200"]
    for media in ok["content"].values():
        item = media["schema"]
        assert item == {"$ref": "#/components/schemas/SecretDescription"}, item
        media["schema"] = {"type": "array", "items": item}


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # Every phase (coverage included) goes through here, whatever spelling `follow` has.
    if case.query and "follow" in case.query:
        case.query["follow"] = "false"


@schemathesis.deserializer("application/x-ndjson")
def ndjson(ctx, response):
    lines = [json.loads(line) for line in response.content.splitlines() if line.strip()]
    if not lines:
        raise NotImplementedError("an empty log stream has no entry to validate")
    shape = {k: type(v) for k, v in lines[0].items()} if isinstance(lines[0], dict) else None
    for i, line in enumerate(lines):
        if not isinstance(line, dict) or {k: type(v) for k, v in line.items()} != shape:
            raise ValueError(f"log line {i + 1} differs from the first in shape: {line!r}")
    return lines[0]
