"""Schemathesis hooks for mlsd's servers (loaded through SCHEMATHESIS_HOOKS by
scripts/fuzz-contract.sh).

POST /v1/sentiment/stream takes NDJSON: its document describes the body as an array of
StreamRecord objects, one per line. Schemathesis has no NDJSON serializer of its own, so this
one writes each item of a generated array as one JSON line (anything else as a single line).
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode("utf-8")
