"""GET /image/v2/schemas/{image,images,member,members}: the JSON schemas Glance publishes.

Every image and member document links here (`"schema": "/v2/schemas/image"`), and clients such as
python-glanceclient read them to know which properties exist and which are read-only. They are
built from the schemas the API validates with (resources.py), so they cannot drift apart.
"""

from __future__ import annotations

import copy

import falcon

from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.image import resources

_STRING_OR_NULL = {"type": ["null", "string"]}
_READ_ONLY = {
    "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-"
                                        "([0-9a-fA-F]){12}$", "description": "An identifier for the image"},
    "status": {"type": "string", "enum": ["queued", "saving", "active", "killed", "deleted", "uploading",
                                          "importing", "pending_delete", "deactivated"],
               "description": "Status of the image"},
    "size": {"type": ["null", "integer"], "description": "Size of image file in bytes"},
    "virtual_size": {"type": ["null", "integer"], "description": "Virtual size of image in bytes"},
    "checksum": {**_STRING_OR_NULL, "maxLength": 32, "description": "md5 hash of image contents."},
    "os_hash_algo": {**_STRING_OR_NULL, "maxLength": 64, "description": "Algorithm used for os_hash_value"},
    "os_hash_value": {**_STRING_OR_NULL, "maxLength": 128, "description": "Hexdigest of the image contents"},
    "owner": {**_STRING_OR_NULL, "maxLength": 255, "description": "Owner of the image"},
    "created_at": {"type": "string", "description": "Date and time of image registration"},
    "updated_at": {"type": "string", "description": "Date and time of the last image modification"},
    "self": {"type": "string", "description": "An image self url"},
    "file": {"type": "string", "description": "An image file url"},
    "schema": {"type": "string", "description": "An image schema url"},
    "direct_url": {"type": "string", "description": "URL to access the image file kept in external store"},
    "locations": {"type": "array", "items": {"type": "object"}, "description": "A set of URLs to access the image"},
}


def image() -> dict:
    properties = copy.deepcopy(resources.IMAGE_CREATE.validator.schema["properties"])
    properties.update({name: {**spec, "readOnly": True} for name, spec in _READ_ONLY.items() if name != "id"})
    properties["id"] = _READ_ONLY["id"]
    return {"name": "image", "properties": properties,
            "additionalProperties": copy.deepcopy(resources.IMAGE_CREATE.validator.schema["additionalProperties"]),
            "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def member() -> dict:
    return {"name": "member", "properties": {
        "image_id": {"type": "string", "description": "An identifier for the image"},
        "member_id": {"type": "string", "description": "An identifier for the image member (project id)"},
        "status": {"type": "string", "enum": ["pending", "accepted", "rejected"],
                   "description": "The status of this image member"},
        "created_at": {"type": "string", "description": "Date and time of image member creation"},
        "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
        "schema": {"type": "string", "readOnly": True}}}


def _collection(name: str, item: dict, paged: bool) -> dict:
    properties = {name: {"type": "array", "items": item}, "schema": {"type": "string"}}
    links = [{"rel": "describedby", "href": "{schema}"}]
    if paged:
        properties.update(first={"type": "string"}, next={"type": "string"})
        links = [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"}, *links]
    return {"name": name, "properties": properties, "links": links}


DOCUMENTS = {
    "image": image,
    "images": lambda: _collection("images", image(), paged=True),
    "member": member,
    "members": lambda: _collection("members", member(), paged=False),
}


class SchemaDocument:
    """Readable by anyone with a token, as Glance's are (they describe, they hold no data)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name not in DOCUMENTS:
            raise Fault(404, f"Could not find schema {name!r}: image, images, member or members.")
        resp.media = DOCUMENTS[name]()
