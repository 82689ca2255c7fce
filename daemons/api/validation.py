"""Request bodies and query strings checked against JSON schemas before any handler sees them.

Validators are Draft 4 (as Nova's), compiled once at import, with Nova's two relaxations: numeric
strings count for `minimum`/`maximum` ("min_count": "2" is valid), and the formats Nova checks
(uuid, base64, ipv4/ipv6, printable names). Error messages follow Nova's wording, because scripts
and tests written against Nova match on them: "Invalid input for field/attribute server. Value:
{...}. Additional properties are not allowed ('foo' was unexpected)".
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import unicodedata
import uuid
from typing import Any

import falcon
import jsonschema
from jsonschema.exceptions import best_match

from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion

JSON_TYPES = ("application/json", "application/vnd.openstack.compute+json")
MAX_BODY = 1024 * 1024  # user_data is at most 64 KiB; nothing legitimate comes near this


class InvalidName(ValueError):
    """A name with unprintable characters or leading/trailing whitespace (Nova's wording)."""

    def __init__(self, reason: str):
        super().__init__(f"An invalid 'name' value was provided. The name must be: {reason}")


FORMATS = jsonschema.FormatChecker(formats=())


def _printable(char: str) -> bool:
    # Letters, marks, numbers, punctuation, symbols and the horizontal space separators (Zs).
    category = unicodedata.category(char)
    return not category.startswith("C") and (not category.startswith("Z") or category == "Zs")


def _edge_ok(char: str) -> bool:
    return _printable(char) and unicodedata.category(char) != "Zs"


@FORMATS.checks("name", raises=InvalidName)
def _check_name(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if value and all(_printable(c) for c in value) and _edge_ok(value[0]) and _edge_ok(value[-1]):
        return True
    if not value:
        return True  # minLength reports the empty name
    raise InvalidName("printable characters. Can not start or end with whitespace.")


@FORMATS.checks("printable")
def _check_printable(value: object) -> bool:
    return not isinstance(value, str) or all(_printable(c) for c in value)


@FORMATS.checks("uuid")
def _check_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@FORMATS.checks("base64")
def _check_base64(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


@FORMATS.checks("ipv4")
def _check_ipv4(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


@FORMATS.checks("ipv6")
def _check_ipv6(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _number(value: object) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None


def _numeric_keyword(name: str):
    original = jsonschema.Draft4Validator.VALIDATORS[name]

    def check(validator, bound, instance, schema):
        number = _number(instance)
        if number is None:
            return None
        return original(validator, bound, number, schema)

    return check


_Validator = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"minimum": _numeric_keyword("minimum"), "maximum": _numeric_keyword("maximum")})


class Schema:
    """A compiled schema: `SERVER_CREATE.validate(body)` raises a 400 Fault in Nova's words."""

    def __init__(self, schema: dict, query: bool = False):
        jsonschema.Draft4Validator.check_schema(schema)
        self.validator = _Validator(schema, format_checker=FORMATS)
        self.query = query

    def validate(self, document: Any) -> None:
        error = best_match(self.validator.iter_errors(document))
        if error is None:
            return
        raise Fault(400, self._message(error))

    def _message(self, error: jsonschema.ValidationError) -> str:
        if isinstance(error.cause, InvalidName):
            return str(error.cause)
        # best_match may pick an error from inside a oneOf: its absolute path still names the field.
        path = error.absolute_path
        if not path:
            return error.message
        if self.query:
            # The query document is {name: [values]}: the parameter is the first path element.
            return f"Invalid input for query parameters {path[0]}. Value: {error.instance}. {error.message}"
        return f"Invalid input for field/attribute {path[-1]}. Value: {error.instance}. {error.message}"


class Versioned:
    """The schemas of one request across microversions, each from the version it starts at:
    `Versioned({"2.1": A, "2.2": B}).validate(req.context.version, body)` uses B from 2.2 on."""

    def __init__(self, by_version: dict[str, Schema]):
        self.entries = sorted(((APIVersion.parse(start), schema) for start, schema in by_version.items()),
                              reverse=True)

    def validate(self, version: APIVersion, document: Any) -> None:
        next(schema for start, schema in self.entries if start <= version).validate(document)


def read_json(req: falcon.Request) -> Any:
    """The request body as JSON: 415 for another media type, 400 for a body that is not JSON."""
    length = req.content_length
    if length is not None and length > MAX_BODY:
        raise Fault(413, f"Request body larger than {MAX_BODY} bytes.")
    raw = req.bounded_stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Fault(413, f"Request body larger than {MAX_BODY} bytes.")
    if not raw.strip():
        return {}
    content_type = (req.content_type or "application/json").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise Fault(415, f"Unsupported Content-Type {content_type}.")
    try:
        body = json.loads(raw)
        # JSON admits lone surrogates ("\ud800") that no UTF-8 text can hold: refuse them here, or
        # they would be stored and break every later response that shows them.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError):
        raise Fault(400, "Malformed request body") from None
    except RecursionError:
        raise Fault(400, "Malformed request body: nested too deeply") from None
    return body


def read_json_as(req: falcon.Request, media_type: str) -> Any:
    """The body as JSON for a JSON-based media type of its own (a JSON patch): 400 if it is not JSON."""
    raw = req.bounded_stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Fault(413, f"Request body larger than {MAX_BODY} bytes.")
    try:
        body = json.loads(raw)
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError):
        raise Fault(400, f"Malformed request body: {media_type} documents are JSON.") from None
    except RecursionError:
        raise Fault(400, "Malformed request body: nested too deeply") from None
    return body


def integer_id(value: str) -> int | None:
    """A database id given in a URL or a marker, or None when it cannot be one (never an error)."""
    if not re.fullmatch(r"[0-9]{1,18}", value):
        return None
    return int(value)


def query(req: falcon.Request) -> dict[str, list[str]]:
    """Every query parameter as a list of its values, the shape query schemas validate."""
    result: dict[str, list[str]] = {}
    for name, value in req.params.items():
        result[name] = list(value) if isinstance(value, list) else [value]
    return result


def last(params: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    """The last value of a repeated parameter, as Nova reads `?limit=1&limit=2`."""
    values = params.get(name)
    return values[-1] if values else default


_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


def to_bool(value: object, what: str) -> bool:
    """Nova's strict bool_from_string: the schema already limited the spellings."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Fault(400, f"Invalid value '{value}' for {what}: expected a boolean.")
