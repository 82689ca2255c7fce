"""Image v2 under /image: versions, images, and their data.

Glance's shapes, because the `openstack` client and openstacksdk read them: a flat image document
(properties beside the columns), `POST /v2/images` then `PUT /v2/images/{id}/file` to upload,
`GET .../file` to download. An image is visible to the admin, to its owner project, and to
everyone when public or community; anyone else gets 404, never a hint that it exists.

Members (`/images/{id}/members`): the owner shares an image of visibility `shared` with a project,
which accepts or rejects it; a shared image is listed by default once accepted.

Quotas per project, Glance's `image_count_total` images and `image_size_total` MiB of data (413
beyond them): a project's unified limit in Identity (`openstack limit create --service glance ...`),
else the registered default (`openstack registered limit create ...`), else `[image]`'s options.

Tags (`/images/{id}/tags/{tag}`), `deactivate`/`reactivate` actions (admin) and single-range
downloads (`Range: bytes=...`, 206) are Glance's too.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import uuid as uuidlib
from urllib.parse import parse_qsl, urlencode

import falcon
from sqlalchemy import func, or_, select, true

from ncloud.daemons.api import paging, policy, validation
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.image.store import HASH_ALGO, FileStore, ImageTooLarge
from ncloud.daemons.api.streaming import BodyInterrupted
from ncloud.daemons.api.validation import Schema
from ncloud.daemons.api.views import Urls
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Image, ImageMember, utcnow
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.identity import limits

PREFIX = "/image/v2"
CHUNK = 1024 * 1024
DISK_FORMATS = ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]
CONTAINER_FORMATS = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]
COLUMNS = ("name", "visibility", "protected", "os_hidden", "disk_format", "container_format", "min_disk",
           "min_ram", "tags")
READ_ONLY = ("status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "owner",
             "created_at", "updated_at", "self", "file", "schema", "direct_url", "locations")

IMAGE_CREATE = Schema({
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": ["string", "null"], "maxLength": 255},
        "visibility": {"enum": ["public", "private", "shared", "community"]},
        "protected": {"type": "boolean"},
        "os_hidden": {"type": "boolean"},
        "disk_format": {"enum": [*DISK_FORMATS, None]},
        "container_format": {"enum": [*CONTAINER_FORMATS, None]},
        "min_disk": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        "min_ram": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}, "uniqueItems": True,
                 "maxItems": 128},
    },
    # Any other key is a property: a string, as Glance stores them.
    "additionalProperties": {"type": "string", "maxLength": 65535},
})


UPLOAD_PATH = re.compile(r"/image/v2/images/[^/]+/file")


def streams_body(method: str, path: str) -> bool:
    """The requests whose body the web server hands over while it arrives (api/streaming.py)."""
    return method == "PUT" and UPLOAD_PATH.fullmatch(path) is not None


PATCH_TYPES = ("application/openstack-images-v2.1-json-patch", "application/openstack-images-v2.0-json-patch")
PATCH = Schema({"type": "array", "maxItems": 256, "items": {
    "type": "object", "required": ["op", "path"], "additionalProperties": False,
    "properties": {"op": {"enum": ["add", "replace", "remove"]},
                   "path": {"type": "string", "pattern": "^/[^/]+$", "maxLength": 256}, "value": {}}}})
REQUIRED = ("visibility", "protected", "os_hidden", "min_disk", "min_ram", "tags", "name", "disk_format",
            "container_format")


def _apply(document: dict, operation: dict) -> None:
    """One JSON patch operation on the flat image document (paths are one level: `/name`, `/os_distro`)."""
    name = operation["path"][1:].replace("~1", "/").replace("~0", "~")
    if name in READ_ONLY or name == "id":
        raise Fault(403, f"Attribute '{name}' is read-only.")
    if operation["op"] == "remove":
        if name in REQUIRED:
            raise Fault(403, f"Attribute '{name}' is reserved and cannot be removed.")
        if name not in document:
            raise Fault(409, f"Property {name} does not exist.")
        del document[name]
        return
    if "value" not in operation:
        raise Fault(400, f"Operation {operation['op']} on {operation['path']} needs a value.")
    if operation["op"] == "replace" and name not in document:
        raise Fault(409, f"Property {name} does not exist.")
    document[name] = operation["value"]


def _range(req: falcon.Request, size: int) -> tuple[int, int] | None:
    """The one byte range a `Range: bytes=A-B` (or `A-`, or `-N`) asks for; 416 when it cannot be served."""
    header = req.get_header("Range")
    if not header:
        return None
    try:
        unit, _, spec = header.partition("=")
        first, _, last = spec.strip().partition("-")
        if unit.strip() != "bytes" or "," in spec:
            raise ValueError
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
    except ValueError:
        raise Fault(416, f"Invalid Range header {header!r}: one range, bytes=START-END.") from None
    if start > end or start >= size:
        raise Fault(416, f"Range {header!r} is not within the image's {size} bytes.",
                    headers={"Content-Range": f"bytes */{size}"})
    return start, end


def _limited(handle, remaining: int):
    """The next `remaining` bytes of `handle`, in chunks, then close it."""
    try:
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def image_view(image: Image) -> dict:
    view = {**(image.properties or {}),
            "id": image.id, "name": image.name, "status": image.status, "visibility": image.visibility,
            "protected": image.protected, "os_hidden": image.os_hidden, "checksum": image.checksum,
            "os_hash_algo": image.os_hash_algo, "os_hash_value": image.os_hash_value, "owner": image.owner,
            "size": image.size, "virtual_size": image.virtual_size, "min_ram": image.min_ram,
            "min_disk": image.min_disk, "disk_format": image.disk_format,
            "container_format": image.container_format, "tags": list(image.tags or []),
            "created_at": _iso(image.created_at), "updated_at": _iso(image.updated_at or image.created_at),
            "self": f"/v2/images/{image.id}", "file": f"/v2/images/{image.id}/file", "schema": "/v2/schemas/image"}
    return view


def _shared_with(project_id: str | None, statuses: tuple[str, ...]):
    return Image.id.in_(select(ImageMember.image_id).where(ImageMember.member_id == project_id,
                                                             ImageMember.status.in_(statuses)))


def visible_clause(ctx: RequestContext):
    """Images the caller may see: all for an admin; else public, community, its project's own, and
    the shared images its project is a member of (whatever it answered, as Glance shows them)."""
    if ctx.is_admin:
        return None
    return or_(Image.visibility.in_(("public", "community")), Image.owner == ctx.project_id,
               (Image.visibility == "shared") & _shared_with(ctx.project_id, ("pending", "accepted", "rejected")))


def listed_clause(ctx: RequestContext, visibility: str | None):
    """Images a list shows: Glance's default leaves out community images and shared ones not accepted."""
    accepted = (Image.visibility == "shared") & _shared_with(ctx.project_id, ("accepted",))
    mine = Image.owner == ctx.project_id
    if visibility is None:
        if ctx.is_admin:
            return or_(Image.visibility != "community", mine)
        return or_(Image.visibility == "public", mine, accepted)
    if visibility == "shared":
        return (Image.visibility == "shared") & (true() if ctx.is_admin else or_(mine, accepted))
    if visibility == "private":
        return (Image.visibility == "private") & (true() if ctx.is_admin else mine)
    if visibility in ("public", "community"):
        return Image.visibility == visibility
    if visibility == "all":
        clause = visible_clause(ctx)
        return true() if clause is None else clause
    raise Fault(400, f"Invalid visibility value: {visibility}")


# Glance's sort keys; a NULL sorts as the lowest value (an image without data has no size yet).
SORT_KEYS = {
    "name": func.coalesce(Image.name, ""), "status": Image.status, "id": Image.id,
    "container_format": func.coalesce(Image.container_format, ""),
    "disk_format": func.coalesce(Image.disk_format, ""), "size": func.coalesce(Image.size, -1),
    "virtual_size": func.coalesce(Image.virtual_size, -1), "min_disk": Image.min_disk, "min_ram": Image.min_ram,
    "created_at": Image.created_at, "updated_at": func.coalesce(Image.updated_at, Image.created_at),
    "visibility": Image.visibility, "owner": func.coalesce(Image.owner, ""),
}


_LIST_PARAMETERS = frozenset({"limit", "marker", "sort", "sort_key", "sort_dir", "visibility", "id", "name", "status",
                              "owner", "disk_format", "container_format", "protected", "os_hidden", "size_min",
                              "size_max", "tag", "member_status"})


def _in_values(value: str) -> list[str]:
    """The values of Glance's `in:` operator: comma separated, each maybe double-quoted."""
    return [part.strip().strip('"') for part in next(csv.reader([value[3:]], skipinitialspace=True))]


def _sort_order(req: falcon.Request) -> list[tuple]:
    """[(sort key, ascending)] from `sort=name:asc,size` or `sort_key`/`sort_dir` (not both), then
    created_at and id (descending, as Glance's default) so that every order is total."""
    sort = req.get_param("sort")
    keys, dirs = req.get_param_as_list("sort_key") or [], req.get_param_as_list("sort_dir") or []
    if sort and (keys or dirs):
        raise Fault(400, "The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'.")
    if sort:
        pairs = [(part.partition(":")[0].strip(), part.partition(":")[2].strip() or "desc") for part in sort.split(",")]
    else:
        if len(dirs) > max(len(keys), 1):
            raise Fault(400, "There are more sort_dir values than sort_key values.")
        pairs = [(key, dirs[i] if i < len(dirs) else (dirs[0] if len(dirs) == 1 else "desc"))
                 for i, key in enumerate(keys)]
        if dirs and not keys:
            pairs = [("created_at", dirs[0])]
    order = []
    for key, direction in pairs:
        if key not in SORT_KEYS:
            raise Fault(400, f"Invalid sort key: {key}. It should be one of: {', '.join(sorted(SORT_KEYS))}.")
        if direction not in ("asc", "desc"):
            raise Fault(400, f"Invalid sort direction: {direction}. It should be asc or desc.")
        order.append((key, direction == "asc"))
    named = {key for key, _ in order}
    return order + [(key, False) for key in ("created_at", "id") if key not in named]


def _boolean(req: falcon.Request, name: str) -> bool:
    value = req.get_param(name).lower()
    if value not in ("true", "false"):
        raise Fault(400, f"Invalid value for {name}: {req.get_param(name)}. It should be true or false.")
    return value == "true"


def _integer(req: falcon.Request, name: str) -> int:
    try:
        return int(req.get_param(name))
    except ValueError:
        raise Fault(400, f"Invalid value for {name}: {req.get_param(name)}. It should be an integer.") from None


def _query_pairs(req: falcon.Request) -> list[tuple[str, str]]:
    return parse_qsl(req.query_string, keep_blank_values=True)


def _versions(req: falcon.Request, public_endpoint: str) -> dict:
    base = Urls.for_request(req, public_endpoint).root
    return {"versions": [{"id": version, "status": "CURRENT" if version == "v2.16" else "SUPPORTED",
                          "links": [{"rel": "self", "href": f"{base}/image/v2/"}]}
                         for version in ("v2.16", "v2.15", "v2.9", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3",
                                         "v2.2", "v2.1", "v2.0")]}


class Versions:
    """GET /image (300, as Glance answers its root) and GET /image/versions (200)."""

    def __init__(self, public_endpoint: str, status: int):
        self.public_endpoint = public_endpoint
        self.status = status

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = self.status
        resp.media = _versions(req, self.public_endpoint)


def check_image_count(conf: Config, session, project_id: str | None) -> None:
    """Room for one more image of the project (image_count_total), else 413."""
    limit = limits.project_limit(session, "image", "image_count_total", project_id, conf.identity.region_name,
                                 conf.image.image_count_total)
    if limit >= 0 and session.scalar(select(func.count()).where(Image.owner == project_id)) >= limit:
        raise Fault(413, f"Quota exceeded: the project may own {limit} images (image_count_total).")


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db
        self.store = FileStore(conf.image_store_path)

    def _get(self, session, ctx: RequestContext, image_id: str) -> Image:
        query = select(Image).where(Image.id == image_id)
        clause = visible_clause(ctx)
        if clause is not None:
            query = query.where(clause)
        image = session.scalars(query).first()
        if image is None:
            raise Fault(404, f"No image found with ID {image_id}")
        return image

    def _quota(self, session, resource: str, project_id: str | None, configured: int) -> int:
        """The project's limit of `resource` (Glance's names): its unified limit in Identity, else
        the registered default, else the configured one."""
        return limits.project_limit(session, "image", resource, project_id, self.conf.identity.region_name,
                                    configured)


class Images(_Base):
    """GET /image/v2/images (list) and POST (create, status queued)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Glance's list: filters, `sort=key:dir,...` (or `sort_key`/`sort_dir`), keyset pages
        (`marker`, `limit`) and a `next` link that keeps every filter."""
        ctx: RequestContext = req.context.ctx
        policy.authorize(ctx, "get_images")
        limit = req.get_param_as_int("limit", min_value=1) or 25
        limit = min(limit, self.conf.api.max_limit)
        order = [(SORT_KEYS[key], ascending) for key, ascending in _sort_order(req)]
        query = paging.ordered(select(Image), order)
        query = query.where(listed_clause(ctx, req.get_param("visibility")))
        for name in ("id", "name", "status", "owner", "disk_format", "container_format"):
            value = req.get_param(name)
            if value is None:
                continue
            if value.startswith("in:"):  # Glance's `in:a,b,c` (osc asks for its servers' images so)
                query = query.where(getattr(Image, name).in_(_in_values(value)))
            else:
                query = query.where(getattr(Image, name) == value)
        for name in ("protected", "os_hidden"):
            if req.get_param(name) is not None:
                query = query.where(getattr(Image, name).is_(_boolean(req, name)))
        if req.get_param("os_hidden") is None:
            query = query.where(Image.os_hidden.is_(False))  # hidden images are listed only when asked for
        for name, compare in (("size_min", "__ge__"), ("size_max", "__le__")):
            if req.get_param(name) is not None:
                query = query.where(getattr(Image.size, compare)(_integer(req, name)))
        marker = req.get_param("marker")
        with self.db.reader() as session:
            if marker:
                query = query.where(paging.after(session, order, Image.id == self._get(session, ctx, marker).id))
            tags = req.get_param_as_list("tag") or []
            # Any other parameter filters on a property of that name, as in Glance (a backup's
            # `instance_uuid` and `backup_type`, say); matched here, like tags, not in SQL.
            wanted = {name: value for name, value in _query_pairs(req) if name not in _LIST_PARAMETERS}
            rows = [row for row in session.scalars(query.limit(limit if not (tags or wanted) else None))
                    if all(tag in (row.tags or []) for tag in tags)
                    and all(str((row.properties or {}).get(name)) == value for name, value in wanted.items())][:limit]
        body = {"images": [image_view(row) for row in rows], "first": "/v2/images", "schema": "/v2/schemas/images"}
        if len(rows) == limit:
            params = [(name, value) for name, value in _query_pairs(req) if name not in ("marker", "limit")]
            body["next"] = "/v2/images?" + urlencode([*params, ("marker", rows[-1].id), ("limit", limit)])
        resp.media = body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx: RequestContext = req.context.ctx
        policy.authorize(ctx, "add_image")
        body = validation.read_json(req)
        if not isinstance(body, dict):
            raise Fault(400, "The request body must be a JSON object.")
        for key in READ_ONLY:
            if key in body:
                raise Fault(403, f"Attribute '{key}' is read-only.")
        IMAGE_CREATE.validate(body)
        if body.get("visibility") == "public":
            policy.authorize(ctx, "publicize_image")
        image_id = body.get("id") or str(uuidlib.uuid4())
        image = Image(id=image_id, owner=ctx.project_id, status="queued",
                      visibility=body.get("visibility", "shared"),
                      properties={k: v for k, v in body.items() if k not in (*COLUMNS, "id")},
                      **{k: body[k] for k in COLUMNS if k in body and k != "visibility"})
        image.tags = list(body.get("tags", []))
        with self.db.writer() as session:
            if session.get(Image, image_id) is not None:
                raise Fault(409, f"Image with identifier {image_id} already exists!")
            check_image_count(self.conf, session, ctx.project_id)
            session.add(image)
        resp.status = 201
        resp.set_header("Location", f"{PREFIX}/images/{image_id}")
        resp.media = image_view(image)


class ImageItem(_Base):
    """GET and DELETE /image/v2/images/{id}."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        policy.authorize(ctx, "get_image")
        with self.db.reader() as session:
            resp.media = image_view(self._get(session, ctx, image_id))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        """JSON patch (Glance's media type) of the image's attributes, tags and properties."""
        ctx: RequestContext = req.context.ctx
        media = (req.content_type or "").split(";")[0].strip().lower()
        if media not in PATCH_TYPES:
            raise Fault(415, f"Unsupported Content-Type {media or '(none)'}: use {PATCH_TYPES[0]}.",
                        headers={"Accept-Patch": ", ".join(PATCH_TYPES)})
        operations = validation.read_json_as(req, media)
        PATCH.validate(operations)
        with self.db.writer() as session:
            image = self._get(session, ctx, image_id)
            policy.authorize(ctx, "modify_image", {"project_id": image.owner})
            document = {**(image.properties or {}), **{name: getattr(image, name) for name in COLUMNS}}
            for operation in operations:
                _apply(document, operation)
            document.pop("id", None)
            IMAGE_CREATE.validate({k: v for k, v in document.items() if v is not None or k in ("name",)})
            if document.get("visibility") == "public" and image.visibility != "public":
                policy.authorize(ctx, "publicize_image")
            for name in COLUMNS:
                setattr(image, name, document.pop(name, None) if name != "tags" else list(document.pop(name, [])))
            image.protected = bool(image.protected)
            image.os_hidden = bool(image.os_hidden)
            image.min_ram, image.min_disk = image.min_ram or 0, image.min_disk or 0
            image.visibility = image.visibility or "shared"
            image.properties = document
            session.flush()
            resp.media = image_view(image)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        with self.db.writer() as session:
            image = self._get(session, ctx, image_id)
            policy.authorize(ctx, "delete_image", {"project_id": image.owner})
            if image.protected:
                raise Fault(403, f"Image {image_id} is protected and cannot be deleted.")
            session.delete(image)
        self.store.delete(image_id)
        resp.status = 204


class ImageFile(_Base):
    """PUT (upload) and GET (download) /image/v2/images/{id}/file."""

    def on_put(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        with self.db.writer() as session:
            image = self._get(session, ctx, image_id)
            policy.authorize(ctx, "upload_image", {"project_id": image.owner})
            if image.status != "queued":
                raise Fault(409, f"Image status transition from {image.status} to saving is not allowed")
            image.status = "saving"
        # The body arrives while this runs (api/streaming.py): a refusal here comes before the
        # client has sent it, and ends the connection so that it need not send the rest.
        limit = self._upload_limit(image)
        if req.content_length is not None and req.content_length > limit:
            self._set_status(image_id, "queued")
            raise Fault(413, f"Image exceeds the storage quota: the limit is {limit} bytes.")
        body = req.bounded_stream if req.content_length is not None else req.stream  # chunked: until its end
        try:
            stored = self.store.put(image_id, iter(lambda: body.read(CHUNK), b""), limit)
        except ImageTooLarge as error:
            self._set_status(image_id, "queued")
            raise Fault(413, str(error)) from None
        except BodyInterrupted as error:  # the client's doing: the image waits for a new upload
            self._set_status(image_id, "queued")
            raise Fault(400, f"The upload ended before the image did ({error}); upload it again.") from None
        except Exception:
            self._set_status(image_id, "killed")
            raise
        with self.db.writer() as session:
            image = session.get(Image, image_id)
            if image is None:  # deleted during the upload
                self.store.delete(image_id)
                raise Fault(410, "Image was deleted during the upload.")
            image.status, image.size = "active", stored.size
            image.checksum, image.os_hash_algo, image.os_hash_value = stored.checksum, HASH_ALGO, stored.os_hash_value
        resp.status = 204

    def _upload_limit(self, image: Image) -> int:
        """The bytes this upload may bring: the size cap, and what is left of its project's quota."""
        limit = self.conf.image.max_image_size
        with self.db.reader() as session:
            total_mib = self._quota(session, "image_size_total", image.owner, self.conf.image.image_size_total)
            if total_mib >= 0:
                used = session.scalar(select(func.coalesce(func.sum(Image.size), 0)).where(
                    Image.owner == image.owner, Image.id != image.id)) or 0
                limit = min(limit, max(0, total_mib * 1024 * 1024 - int(used)))
        return limit

    def _set_status(self, image_id: str, status: str) -> None:
        with self.db.writer() as session:
            image = session.get(Image, image_id)
            if image is not None:
                image.status = status

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        with self.db.reader() as session:
            image = self._get(session, ctx, image_id)
            policy.authorize(ctx, "download_image", {"project_id": image.owner})
        if image.status == "deactivated" and not ctx.is_admin:
            raise Fault(403, "The requested image has been deactivated. Image data download is forbidden.")
        if image.status not in ("active", "deactivated") or not self.store.path(image_id).exists():
            resp.status = 204  # Glance: no data to send
            return
        span = _range(req, image.size or 0)
        resp.content_type = "application/octet-stream"
        resp.set_header("Accept-Ranges", "bytes")
        handle = self.store.open(image_id)
        if span is None:
            resp.set_header("Content-MD5", image.checksum or "")
            resp.content_length = image.size
            resp.stream = handle
            return
        start, end = span
        handle.seek(start)
        resp.status = 206
        resp.set_header("Content-Range", f"bytes {start}-{end}/{image.size}")
        resp.content_length = end - start + 1
        resp.stream = _limited(handle, end - start + 1)


MEMBER_CREATE = Schema({"type": "object", "required": ["member"], "additionalProperties": False,
                        "properties": {"member": {"type": "string", "minLength": 1, "maxLength": 64}}})
# openstacksdk sends the member's id beside the status: accepted, and ignored.
MEMBER_UPDATE = Schema({"type": "object", "required": ["status"], "additionalProperties": False,
                        "properties": {"status": {"enum": ["pending", "accepted", "rejected"]},
                                       "member": {"type": "string"}, "member_id": {"type": "string"}}})


def member_view(member: ImageMember) -> dict:
    return {"image_id": member.image_id, "member_id": member.member_id, "status": member.status,
            "created_at": _iso(member.created_at), "updated_at": _iso(member.updated_at or member.created_at),
            "schema": "/v2/schemas/member"}


class Members(_Base):
    """GET and POST /image/v2/images/{id}/members: the owner shares; a member sees its own entry."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        with self.db.reader() as session:
            image = self._get(session, ctx, image_id)
            if image.visibility != "shared":
                raise Fault(403, "Only shared images have members.")
            query = select(ImageMember).where(ImageMember.image_id == image_id).order_by(ImageMember.member_id)
            if not ctx.is_admin and image.owner != ctx.project_id:
                query = query.where(ImageMember.member_id == ctx.project_id)
            members = session.scalars(query).all()
        resp.media = {"members": [member_view(member) for member in members], "schema": "/v2/schemas/members"}

    def on_post(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        body = validation.read_json(req)
        MEMBER_CREATE.validate(body)
        with self.db.writer() as session:
            image = self._get(session, ctx, image_id)
            if image.owner != ctx.project_id and not ctx.is_admin:
                raise Fault(403, "Only the image's owner may add members.")
            if image.visibility != "shared":
                raise Fault(403, "Only shared images have members.")
            if session.get(ImageMember, (image_id, body["member"])) is not None:
                raise Fault(409, f"Member {body['member']} already exists.")
            member = ImageMember(image_id=image_id, member_id=body["member"], status="pending")
            session.add(member)
            session.flush()
            resp.media = member_view(member)


class Member(_Base):
    """GET, PUT (the member answers) and DELETE (the owner removes) /images/{id}/members/{member}."""

    def _member(self, session, ctx: RequestContext, image_id: str, member_id: str) -> tuple[Image, ImageMember]:
        image = self._get(session, ctx, image_id)
        member = session.get(ImageMember, (image_id, member_id))
        may_see = ctx.is_admin or image.owner == ctx.project_id or member_id == ctx.project_id
        if member is None or not may_see:
            raise Fault(404, f"{member_id} is not a member of image {image_id}.")
        return image, member

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str, member_id: str) -> None:
        with self.db.reader() as session:
            resp.media = member_view(self._member(session, req.context.ctx, image_id, member_id)[1])

    def on_put(self, req: falcon.Request, resp: falcon.Response, image_id: str, member_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        body = validation.read_json(req)
        MEMBER_UPDATE.validate(body)
        with self.db.writer() as session:
            _, member = self._member(session, ctx, image_id, member_id)
            if member_id != ctx.project_id:
                raise Fault(403, "Only the member project itself may accept or reject an image.")
            member.status, member.updated_at = body["status"], utcnow()
            session.flush()
            resp.media = member_view(member)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, image_id: str, member_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        with self.db.writer() as session:
            image, member = self._member(session, ctx, image_id, member_id)
            if image.owner != ctx.project_id and not ctx.is_admin:
                raise Fault(403, "Only the image's owner may remove members.")
            session.delete(member)
        resp.status = 204


class Tag(_Base):
    """PUT and DELETE /image/v2/images/{id}/tags/{tag}."""

    def _change(self, req: falcon.Request, image_id: str, tag: str, add: bool) -> None:
        ctx: RequestContext = req.context.ctx
        if not 0 < len(tag) <= 255:
            raise Fault(400, "A tag is 1 to 255 characters long.")
        with self.db.writer() as session:
            image = self._get(session, ctx, image_id)
            policy.authorize(ctx, "modify_image", {"project_id": image.owner})
            tags = list(image.tags or [])
            if add and tag not in tags:
                if len(tags) >= 128:
                    raise Fault(413, "An image has at most 128 tags.")
                tags.append(tag)
            elif not add:
                if tag not in tags:
                    raise Fault(404, f"Tag {tag} not found.")
                tags.remove(tag)
            image.tags = tags

    def on_put(self, req: falcon.Request, resp: falcon.Response, image_id: str, tag: str) -> None:
        self._change(req, image_id, tag, add=True)
        resp.status = 204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, image_id: str, tag: str) -> None:
        self._change(req, image_id, tag, add=False)
        resp.status = 204


class Action(_Base):
    """POST /image/v2/images/{id}/actions/deactivate|reactivate (admin, as Glance's defaults)."""

    TRANSITIONS = {"deactivate": ("active", "deactivated"), "reactivate": ("deactivated", "active")}

    def on_post(self, req: falcon.Request, resp: falcon.Response, image_id: str, action: str) -> None:
        ctx: RequestContext = req.context.ctx
        if action not in self.TRANSITIONS:
            raise Fault(404, f"Unknown image action {action}.")
        policy.authorize(ctx, f"{action}")
        before, after = self.TRANSITIONS[action]
        with self.db.writer() as session:
            image = self._get(session, ctx, image_id)
            if image.status not in (before, after):
                raise Fault(403, f"Not allowed to {action} an image in status '{image.status}'.")
            image.status = after
        resp.status = 204
