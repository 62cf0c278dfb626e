"""Check a real API response against what /api/schema/ declares for its path, method and status code."""
from __future__ import annotations

import json
import re
from functools import cache

import jsonschema


@cache
def openapi() -> dict:
    """The schema exactly as /api/schema/?format=json serves it."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def _strict(node):
    """OpenAPI 3.0 -> JSON Schema 2020-12: `nullable` becomes a null type, and an object that lists its properties
    refuses any other (so an undocumented field in a response is a failure, not a pass)."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@cache
def _components() -> dict:
    return _strict(openapi()["components"])


@cache
def _operations() -> list[tuple[re.Pattern, str, dict]]:
    ops = []
    # literal paths first: /adapters/active/ is not /adapters/{adapter_id}/
    for template, item in sorted(openapi()["paths"].items(), key=lambda kv: kv[0].count("{")):
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$")
        for method, op in item.items():
            ops.append((pattern, method.upper(), op))
    return ops


def operation(method: str, path: str) -> dict:
    for pattern, m, op in _operations():
        if m == method.upper() and pattern.match(path):
            return op
    raise AssertionError(f"{method} {path}: no such operation in the schema")


def check_response(method: str, path: str, response) -> None:
    """Fail unless the schema declares this status for the operation and the body matches its schema."""
    op = operation(method, path.split("?", 1)[0])
    code = str(response.status_code)
    declared = op["responses"]
    assert code in declared, f"{method} {path} answered {code}; the schema declares only {sorted(declared)}"
    content = declared[code].get("content")
    media = (response.get("Content-Type") or "").split(";")[0].strip()
    if not content:
        assert not response.content, f"{method} {path} {code}: a body where the schema declares none"
        return
    assert media in content, f"{method} {path} {code}: {media!r}, but the schema declares {sorted(content)}"
    if media != "application/json":
        assert content[media]["schema"].get("format") == "binary"
        return
    schema = {**_strict(content[media]["schema"]), "components": _components()}
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(json.loads(response.content)), key=str)
    assert not errors, f"{method} {path} {code} does not match its schema:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors[:10])
