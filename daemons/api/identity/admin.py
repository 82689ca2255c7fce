"""Identity v3 administration: domains, projects, users, roles and role assignments on projects.

Keystone's paths, bodies and status codes, because the `openstack` CLI resolves names through
them (`role add --project p --user u member` looks each name up, then PUTs the assignment). Who
may do what is the policy engine's `identity:*` rules (api/policy.py), Keystone's defaults for a
cloud without system scope: an `admin` of any project administers identity; anyone may read
their own user, their own project and its domain, and change their own password. A refusal is
403 with Keystone's message.

Deleting or disabling a user revokes every token it holds (a revocation event by user), so the
change takes effect on the next request everywhere.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

import falcon
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ncloud.daemons.api import policy, validation
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.identity.resources import PREFIX, _Authenticated, _base
from ncloud.daemons.api.validation import Schema
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import (
    ApplicationCredential,
    Domain,
    DomainRoleAssignment,
    Project,
    Role,
    RoleAssignment,
    User,
    utcnow,
)
from ncloud.daemons.core.identity import passwords
from ncloud.daemons.core.identity.auth import Identity, record_revocation
from ncloud.daemons.core.identity.bootstrap import DEFAULT_DOMAIN_ID, ROLES, new_id

_name = {"type": "string", "minLength": 1, "maxLength": 255}
_text = {"type": ["string", "null"], "maxLength": 65535}
_id = {"type": "string", "minLength": 1, "maxLength": 64}
_bool = {"type": "boolean"}


def _body(key: str, properties: dict, required: tuple[str, ...] = ()) -> Schema:
    inner = {"type": "object", "properties": properties, **({"required": list(required)} if required else {})}
    return Schema({"type": "object", "required": [key], "additionalProperties": False, "properties": {key: inner}})


PROJECT_CREATE = _body("project", {"name": {**_name, "maxLength": 64}, "domain_id": _id, "description": _text,
                                   "enabled": _bool, "is_domain": {"enum": [False]},
                                   "parent_id": {"type": ["string", "null"]}, "tags": {"type": "array"},
                                   "options": {"type": "object"}}, ("name",))
PROJECT_UPDATE = _body("project", {"name": {**_name, "maxLength": 64}, "description": _text, "enabled": _bool,
                                   "tags": {"type": "array"}, "options": {"type": "object"}})
USER_CREATE = _body("user", {"name": _name, "domain_id": _id, "password": {"type": ["string", "null"]},
                             "enabled": _bool, "default_project_id": {"type": ["string", "null"]},
                             "description": _text, "email": {"type": ["string", "null"], "maxLength": 255},
                             "options": {"type": "object"}}, ("name",))
USER_UPDATE = _body("user", {"name": _name, "password": {"type": ["string", "null"]}, "enabled": _bool,
                             "default_project_id": {"type": ["string", "null"]}, "description": _text,
                             "email": {"type": ["string", "null"], "maxLength": 255}, "options": {"type": "object"}})
PASSWORD_CHANGE = _body("user", {"password": {"type": "string", "minLength": 1},
                                 "original_password": {"type": "string"}}, ("password", "original_password"))
ROLE_CREATE = _body("role", {"name": _name, "description": _text, "domain_id": {"type": "null"},
                             "options": {"type": "object"}}, ("name",))
ROLE_UPDATE = _body("role", {"name": _name, "description": _text, "options": {"type": "object"}})


def _read(req: falcon.Request, schema: Schema, key: str | None = None):
    """The request's JSON body once `schema` accepts it (400 otherwise); its `key` member if named."""
    body = validation.read_json(req)
    schema.validate(body)
    return body if key is None else body[key]


def _forbidden(action: str) -> Fault:
    return Fault(403, f"You are not authorized to perform the requested action: identity:{action}.")


def _not_found(kind: str, ident: str) -> Fault:
    return Fault(404, f"Could not find {kind}: {ident}.")


def _conflict(kind: str, domain_id: str) -> Fault:
    return Fault(409, f"Conflict occurred attempting to store {kind} - Duplicate entry found with name at domain "
                      f"ID {domain_id}.")


def _links(base: str, collection: str, ident: str) -> dict:
    return {"self": f"{base}{PREFIX}/{collection}/{ident}"}


def _list_links(base: str, collection: str) -> dict:
    return {"self": f"{base}{PREFIX}/{collection}", "previous": None, "next": None}


def domain_view(domain: Domain, base: str) -> dict:
    return {"id": domain.id, "name": domain.name, "description": domain.description or "",
            "enabled": domain.enabled, "tags": [], "options": {}, "links": _links(base, "domains", domain.id)}


def project_view(project: Project, base: str) -> dict:
    extra = project.extra or {}
    return {"id": project.id, "name": project.name, "domain_id": project.domain_id,
            "description": project.description or "", "enabled": project.enabled, "parent_id": project.domain_id,
            "is_domain": False, "tags": extra.get("tags", []), "options": extra.get("options", {}),
            "links": _links(base, "projects", project.id)}


def user_view(user: User, base: str) -> dict:
    view = {"id": user.id, "name": user.name, "domain_id": user.domain_id, "enabled": user.enabled,
            "password_expires_at": None, "options": (user.extra or {}).get("options", {}),
            "links": _links(base, "users", user.id)}
    for optional in ("default_project_id", "description", "email"):
        if getattr(user, optional) is not None:
            view[optional] = getattr(user, optional)
    return view


def role_view(role: Role, base: str) -> dict:
    return {"id": role.id, "name": role.name, "domain_id": None, "description": role.description,
            "options": {}, "links": _links(base, "roles", role.id)}


class _Admin(_Authenticated):
    """Shared by the resources below: the caller, the database, the base URL."""

    @property
    def db(self):
        return self.auth.db

    def base(self, req: falcon.Request) -> str:
        return _base(req, self.public_endpoint)

    def listing(self, req: falcon.Request, resp: falcon.Response, collection: str, rows, view) -> None:
        """Keystone's list document: `{collection: [view(row, base)...], "links": {...}}`."""
        base = self.base(req)
        resp.media = {collection: [view(row, base) for row in rows], "links": _list_links(base, collection)}

    def authorize(self, req: falcon.Request, action: str,
                  target: dict | Callable[[Identity], dict] | None = None) -> Identity:
        """The caller, if the policy allows them `identity:<action>` on `target` (or on what
        `target(caller)` returns); 403 otherwise."""
        caller = self.caller(req)
        ctx = RequestContext(user_id=caller.user.id, project_id=caller.project.id if caller.project else None,
                             roles=caller.role_names, request_id=req.context.ctx.request_id)
        ctx.domain_id = caller.domain.id if caller.domain else None
        ctx.project_domain_id = caller.project.domain_id if caller.project else None
        ctx.policy = getattr(req.context.ctx, "policy", policy.DEFAULT_ENFORCER)
        if callable(target):
            target = target(caller)
        if not policy.allowed(ctx, f"identity:{action}", target or {}):
            raise _forbidden(action)
        return caller


def _scoped_domain(caller: Identity) -> str | None:
    return caller.domain.id if caller.domain else None


def _is_admin(caller: Identity) -> bool:
    return "admin" in caller.role_names


def _revoke_user_tokens(session, user_id: str, token_lifetime: int) -> None:
    """Every token of the user issued until now; the event matters no longer than a token lives."""
    record_revocation(session, user_id=user_id, expires_at=utcnow() + dt.timedelta(seconds=token_lifetime))


def _domain_id(session, requested: str | None) -> str:
    domain_id = requested or DEFAULT_DOMAIN_ID
    if session.get(Domain, domain_id) is None:
        raise Fault(400, f"Could not find domain: {domain_id}.")
    return domain_id


def _domain_filter(req: falcon.Request, caller: Identity) -> str | None:
    """The domain a list is limited to: the `domain_id` asked for, else a domain-scoped token's
    own domain (as Keystone does), else none."""
    return req.get_param("domain_id") or _scoped_domain(caller)


def _name_and_enabled(req: falcon.Request, query, model):
    """The `name` and `enabled` filters Keystone's lists of domains, projects and users take."""
    if "name" in req.params:
        query = query.where(model.name == req.get_param("name"))
    if "enabled" in req.params:
        query = query.where(model.enabled.is_(req.get_param_as_bool("enabled")))
    return query


def _load(session, model, ident: str, kind: str):
    row = session.get(model, ident)
    if row is None:
        raise _not_found(kind, ident)
    return row


# -- domains -----------------------------------------------------------------------------------

DOMAIN_CREATE = _body("domain", {"name": {**_name, "maxLength": 64}, "description": _text, "enabled": _bool,
                                 "explicit_domain_id": _id, "tags": {"type": "array"},
                                 "options": {"type": "object"}}, ("name",))
DOMAIN_UPDATE = _body("domain", {"name": {**_name, "maxLength": 64}, "description": _text, "enabled": _bool,
                                 "tags": {"type": "array"}, "options": {"type": "object"}})


class Domains(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.authorize(req, "list_domains", lambda caller: {"domain_id": _scoped_domain(caller)})
        query = select(Domain).order_by(Domain.name)
        if not _is_admin(caller):
            query = query.where(Domain.id == _scoped_domain(caller))
        with self.db.reader() as session:
            rows = session.scalars(_name_and_enabled(req, query, Domain)).all()
        self.listing(req, resp, "domains", rows, domain_view)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "create_domain")
        ref = _read(req, DOMAIN_CREATE, "domain")
        try:
            with self.db.writer() as session:
                domain = Domain(id=ref.get("explicit_domain_id") or new_id(), name=ref["name"],
                                description=ref.get("description"), enabled=ref.get("enabled", True))
                session.add(domain)
        except IntegrityError:
            raise Fault(409, "Conflict occurred attempting to store domain - Duplicate entry found with name "
                             f"{ref['name']}.") from None
        resp.status = 201
        resp.media = {"domain": domain_view(domain, self.base(req))}


class DomainItem(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response, domain_id: str) -> None:
        self.authorize(req, "get_domain", {"domain_id": domain_id})
        with self.db.reader() as session:
            domain = _load(session, Domain, domain_id, "domain")
        resp.media = {"domain": domain_view(domain, self.base(req))}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, domain_id: str) -> None:
        self.authorize(req, "update_domain", {"domain_id": domain_id})
        ref = _read(req, DOMAIN_UPDATE, "domain")
        if domain_id == DEFAULT_DOMAIN_ID and ref.get("enabled") is False:
            raise Fault(403, "The default domain holds the cloud's administrators and cannot be disabled.")
        try:
            with self.db.writer() as session:
                domain = _load(session, Domain, domain_id, "domain")
                for name in ("name", "description", "enabled"):
                    if name in ref:
                        setattr(domain, name, ref[name])
        except IntegrityError:
            raise Fault(409, "Conflict occurred attempting to store domain - Duplicate entry found with name "
                             f"{ref['name']}.") from None
        resp.media = {"domain": domain_view(domain, self.base(req))}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, domain_id: str) -> None:
        """Keystone's rule: only a disabled domain can be deleted, and with it go its projects,
        users and every role assignment on them."""
        self.authorize(req, "delete_domain", {"domain_id": domain_id})
        if domain_id == DEFAULT_DOMAIN_ID:
            raise Fault(403, "The default domain holds the cloud's administrators and cannot be deleted.")
        with self.db.writer() as session:
            domain = _load(session, Domain, domain_id, "domain")
            if domain.enabled:
                raise Fault(403, "Cannot delete a domain that is enabled, please disable it first.")
            projects = select(Project.id).where(Project.domain_id == domain_id)
            users = select(User.id).where(User.domain_id == domain_id)
            session.execute(delete(RoleAssignment).where(
                RoleAssignment.project_id.in_(projects) | RoleAssignment.user_id.in_(users)))
            session.execute(delete(DomainRoleAssignment).where(
                (DomainRoleAssignment.domain_id == domain_id) | DomainRoleAssignment.user_id.in_(users)))
            session.execute(delete(ApplicationCredential).where(
                ApplicationCredential.project_id.in_(projects) | ApplicationCredential.user_id.in_(users)))
            session.execute(delete(Project).where(Project.domain_id == domain_id))
            session.execute(delete(User).where(User.domain_id == domain_id))
            session.delete(domain)
        resp.status = 204


# -- projects ----------------------------------------------------------------------------------

class Projects(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.authorize(req, "list_projects", lambda caller: {"domain_id": _domain_filter(req, caller)})
        domain_id = _domain_filter(req, caller)
        query = select(Project).order_by(Project.name)
        if domain_id:
            query = query.where(Project.domain_id == domain_id)
        with self.db.reader() as session:
            rows = session.scalars(_name_and_enabled(req, query, Project)).all()
        self.listing(req, resp, "projects", rows, project_view)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        ref = _read(req, PROJECT_CREATE, "project")
        caller = self.authorize(req, "create_project", lambda caller: {
            "project.domain_id": ref.get("domain_id") or _scoped_domain(caller) or DEFAULT_DOMAIN_ID})
        try:
            with self.db.writer() as session:
                domain_id = _domain_id(session, ref.get("domain_id") or _scoped_domain(caller))
                project = Project(id=new_id(), name=ref["name"], domain_id=domain_id,
                                  description=ref.get("description"), enabled=ref.get("enabled", True),
                                  extra={"tags": ref.get("tags", []), "options": ref.get("options", {})})
                session.add(project)
        except IntegrityError:
            raise _conflict("project", domain_id) from None
        resp.status = 201
        resp.media = {"project": project_view(project, self.base(req))}


class ProjectItem(_Admin):
    def _target(self, project_id: str) -> tuple[Project | None, dict]:
        """The project (None when absent) and the policy target it makes, in one read."""
        with self.db.reader() as session:
            project = session.get(Project, project_id)
        return project, {"project_id": project_id, "project.domain_id": project.domain_id if project else None}

    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        project, target = self._target(project_id)
        self.authorize(req, "get_project", target)
        if project is None:
            raise _not_found("project", project_id)
        resp.media = {"project": project_view(project, self.base(req))}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        self.authorize(req, "update_project", self._target(project_id)[1])
        ref = _read(req, PROJECT_UPDATE, "project")
        try:
            with self.db.writer() as session:
                project = _load(session, Project, project_id, "project")
                for name in ("name", "description", "enabled"):
                    if name in ref:
                        setattr(project, name, ref[name])
                extra = dict(project.extra or {})
                extra.update({name: ref[name] for name in ("tags", "options") if name in ref})
                project.extra = extra
        except IntegrityError:
            raise _conflict("project", project.domain_id) from None
        resp.media = {"project": project_view(project, self.base(req))}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        self.authorize(req, "delete_project", self._target(project_id)[1])
        with self.db.writer() as session:
            project = _load(session, Project, project_id, "project")
            session.execute(delete(RoleAssignment).where(RoleAssignment.project_id == project_id))
            session.delete(project)
        resp.status = 204


# -- users -------------------------------------------------------------------------------------

class Users(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.authorize(req, "list_users", lambda caller: {"domain_id": _domain_filter(req, caller)})
        domain_id = _domain_filter(req, caller)
        query = select(User).order_by(User.name)
        if domain_id:
            query = query.where(User.domain_id == domain_id)
        with self.db.reader() as session:
            rows = session.scalars(_name_and_enabled(req, query, User)).all()
        self.listing(req, resp, "users", rows, user_view)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        ref = _read(req, USER_CREATE, "user")
        caller = self.authorize(req, "create_user", lambda caller: {
            "user.domain_id": ref.get("domain_id") or _scoped_domain(caller) or DEFAULT_DOMAIN_ID})
        password = ref.get("password")
        try:
            with self.db.writer() as session:
                domain_id = _domain_id(session, ref.get("domain_id") or _scoped_domain(caller))
                user = User(id=new_id(), name=ref["name"], domain_id=domain_id,
                            password_hash=passwords.hash_secret(password) if password else None,
                            enabled=ref.get("enabled", True), default_project_id=ref.get("default_project_id"),
                            description=ref.get("description"), email=ref.get("email"),
                            extra={"options": ref.get("options", {})})
                session.add(user)
        except IntegrityError:
            raise _conflict("user", domain_id) from None
        resp.status = 201
        resp.media = {"user": user_view(user, self.base(req))}


def _user_target(db, user_id: str) -> tuple[User | None, dict]:
    """The user (None when absent) and the policy target it makes, in one read."""
    with db.reader() as session:
        user = session.get(User, user_id)
    return user, {"user_id": user_id, "user.domain_id": user.domain_id if user else None}


class UserItem(_Admin):
    def _authorize_change(self, req: falcon.Request, action: str, user_id: str) -> None:
        """A domain manager manages their domain's users, but not a cloud administrator who
        happens to live there: taking over an admin's password would make them one."""
        caller = self.authorize(req, action, _user_target(self.db, user_id)[1])
        if not _is_admin(caller) and self.auth.holds_admin_role(user_id):
            raise _forbidden(action)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        user, target = _user_target(self.db, user_id)
        self.authorize(req, "get_user", target)
        if user is None:
            raise _not_found("user", user_id)
        resp.media = {"user": user_view(user, self.base(req))}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        self._authorize_change(req, "update_user", user_id)
        ref = _read(req, USER_UPDATE, "user")
        try:
            with self.db.writer() as session:
                user = _load(session, User, user_id, "user")
                for name in ("name", "enabled", "default_project_id", "description", "email"):
                    if name in ref:
                        setattr(user, name, ref[name])
                if "password" in ref:
                    user.password_hash = passwords.hash_secret(ref["password"]) if ref["password"] else None
                if ref.get("enabled") is False or "password" in ref:
                    _revoke_user_tokens(session, user_id, self.auth.conf.identity.token_expiration)
        except IntegrityError:
            raise _conflict("user", user.domain_id) from None
        resp.media = {"user": user_view(user, self.base(req))}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        self._authorize_change(req, "delete_user", user_id)
        with self.db.writer() as session:
            user = _load(session, User, user_id, "user")
            session.execute(delete(RoleAssignment).where(RoleAssignment.user_id == user_id))
            session.execute(delete(DomainRoleAssignment).where(DomainRoleAssignment.user_id == user_id))
            session.delete(user)
            _revoke_user_tokens(session, user_id, self.auth.conf.identity.token_expiration)
        resp.status = 204


class UserPassword(_Admin):
    """POST /users/{id}/password: a user changes their own password, proving the old one."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        self.authorize(req, "change_password", {"user_id": user_id})
        body = _read(req, PASSWORD_CHANGE)
        with self.db.writer() as session:
            user = session.get(User, user_id)
            if user is None or not passwords.verify(user.password_hash, body["user"]["original_password"]):
                raise Fault(401, "The request you have made requires authentication.")
            user.password_hash = passwords.hash_secret(body["user"]["password"])
            _revoke_user_tokens(session, user_id, self.auth.conf.identity.token_expiration)
        resp.status = 204


class UserProjects(_Admin):
    """GET /users/{id}/projects: the projects a user has a role on (their own, or any for an admin)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        self.authorize(req, "list_user_projects", _user_target(self.db, user_id)[1])
        base = self.base(req)
        resp.media = {"projects": [project_view(p, base) for p in self.auth.projects_of(user_id)],
                      "links": _list_links(base, f"users/{user_id}/projects")}


# -- roles and assignments -----------------------------------------------------------------------

class Roles(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.authorize(req, "list_roles")
        query = select(Role).order_by(Role.name)
        if "name" in req.params:
            query = query.where(Role.name == req.get_param("name"))
        with self.db.reader() as session:
            rows = session.scalars(query).all()
        if not _is_admin(caller):  # a domain manager sees the roles they may grant
            rows = [row for row in rows if self._allowed_role(req, row)]
        self.listing(req, resp, "roles", rows, role_view)

    def _allowed_role(self, req: falcon.Request, role: Role) -> bool:
        enforcer = getattr(req.context.ctx, "policy", policy.DEFAULT_ENFORCER)
        return enforcer.rules["domain_managed_role"]({}, {"role.name": role.name}, enforcer)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "create_role")
        body = _read(req, ROLE_CREATE)
        try:
            with self.db.writer() as session:
                role = Role(id=new_id(), name=body["role"]["name"], description=body["role"].get("description"))
                session.add(role)
        except IntegrityError:
            raise Fault(409, "Conflict occurred attempting to store role - Duplicate entry found with name "
                             f"{body['role']['name']}.") from None
        resp.status = 201
        resp.media = {"role": role_view(role, self.base(req))}


class RoleItem(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response, role_id: str) -> None:
        with self.db.reader() as session:
            role = session.get(Role, role_id)
        self.authorize(req, "get_role", {"role.name": role.name if role else None})
        if role is None:
            raise _not_found("role", role_id)
        resp.media = {"role": role_view(role, self.base(req))}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, role_id: str) -> None:
        self.authorize(req, "update_role")
        ref = _read(req, ROLE_UPDATE, "role")
        try:
            with self.db.writer() as session:
                role = _load(session, Role, role_id, "role")
                if "name" in ref and ref["name"] != role.name:
                    _refuse_builtin(role, "renamed")
                for name in ("name", "description"):
                    if name in ref:
                        setattr(role, name, ref[name])
        except IntegrityError:
            raise Fault(409, f"Conflict occurred attempting to store role - Duplicate entry found with name "
                             f"{ref['name']}.") from None
        resp.media = {"role": role_view(role, self.base(req))}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, role_id: str) -> None:
        self.authorize(req, "delete_role")
        with self.db.writer() as session:
            role = _load(session, Role, role_id, "role")
            _refuse_builtin(role, "deleted")
            session.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role_id))
            session.execute(delete(DomainRoleAssignment).where(DomainRoleAssignment.role_id == role_id))
            session.delete(role)
        resp.status = 204


def _refuse_builtin(role: Role, what: str) -> None:
    if role.name in ROLES:
        raise Fault(403, f"The role {role.name} is one the default policy relies on: it cannot be {what}.")


class _Grants(_Admin):
    """Role grants on a project or on a domain: /{projects|domains}/{id}/users/{u}/roles[/{r}].

    The target names the user's domain, the project's (or the domain itself) and the role, so
    that a domain manager's grants stay inside their domain and within the roles they may give.
    """

    scope = "project"  # or "domain"

    @property
    def model(self):
        return RoleAssignment if self.scope == "project" else DomainRoleAssignment

    @property
    def column(self):
        return RoleAssignment.project_id if self.scope == "project" else DomainRoleAssignment.domain_id

    def _authorized(self, req: falcon.Request, action: str, scope_id: str, user_id: str,
                    role_id: str | None = None) -> None:
        """403 unless the policy allows `action` on this grant, then 404 for what does not exist
        (in that order: a caller without the right learns nothing of what exists)."""
        owner_model = Project if self.scope == "project" else Domain
        with self.db.reader() as session:
            found = {"owner": session.get(owner_model, scope_id), "user": session.get(User, user_id),
                     "role": session.get(Role, role_id) if role_id else None}
        owner, user, role = found["owner"], found["user"], found["role"]
        self.authorize(req, action, {
            "user.domain_id": user.domain_id if user else None,
            "project.domain_id": owner.domain_id if owner is not None and self.scope == "project" else None,
            "domain.id": owner.id if owner is not None and self.scope == "domain" else None,
            "role.name": role.name if role else None})
        for row, kind, ident in ((owner, self.scope, scope_id), (user, "user", user_id), (role, "role", role_id)):
            if ident is not None and row is None:
                raise _not_found(kind, ident)

    def _key(self, scope_id: str, user_id: str, role_id: str) -> tuple:
        return (user_id, scope_id, role_id)

    def _missing(self, scope_id: str, user_id: str, role_id: str) -> Fault:
        return _not_found("role assignment", f"{role_id} of {user_id} on {scope_id}")


class ProjectUserRoles(_Grants):
    """GET /projects/{p}/users/{u}/roles: a user's roles on a project."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str, **scope) -> None:
        scope_id = scope[f"{self.scope}_id"]
        self._authorized(req, "list_grants", scope_id, user_id)
        with self.db.reader() as session:
            rows = session.scalars(select(Role).join(self.model, self.model.role_id == Role.id).where(
                self.column == scope_id, self.model.user_id == user_id).order_by(Role.name)).all()
        base = self.base(req)
        resp.media = {"roles": [role_view(row, base) for row in rows],
                      "links": _list_links(base, f"{self.scope}s/{scope_id}/users/{user_id}/roles")}


class ProjectUserRole(_Grants):
    """PUT, HEAD and DELETE /projects/{p}/users/{u}/roles/{r}: grant, check, revoke a role."""

    def on_put(self, req: falcon.Request, resp: falcon.Response, user_id: str, role_id: str, **scope) -> None:
        scope_id = scope[f"{self.scope}_id"]
        self._authorized(req, "create_grant", scope_id, user_id, role_id)
        with self.db.writer() as session:
            if session.get(self.model, self._key(scope_id, user_id, role_id)) is None:
                session.add(self.model(user_id=user_id, role_id=role_id, **{f"{self.scope}_id": scope_id}))
        resp.status = 204

    def on_head(self, req: falcon.Request, resp: falcon.Response, user_id: str, role_id: str, **scope) -> None:
        scope_id = scope[f"{self.scope}_id"]
        self._authorized(req, "check_grant", scope_id, user_id, role_id)
        with self.db.reader() as session:
            if session.get(self.model, self._key(scope_id, user_id, role_id)) is None:
                raise self._missing(scope_id, user_id, role_id)
        resp.status = 204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user_id: str, role_id: str, **scope) -> None:
        scope_id = scope[f"{self.scope}_id"]
        self._authorized(req, "revoke_grant", scope_id, user_id, role_id)
        with self.db.writer() as session:
            assignment = session.get(self.model, self._key(scope_id, user_id, role_id))
            if assignment is None:
                raise self._missing(scope_id, user_id, role_id)
            session.delete(assignment)
        resp.status = 204


class DomainUserRoles(ProjectUserRoles):
    """GET /domains/{d}/users/{u}/roles: a user's roles on a domain."""

    scope = "domain"


class DomainUserRole(ProjectUserRole):
    """PUT, HEAD and DELETE /domains/{d}/users/{u}/roles/{r}: e.g. make someone a domain manager."""

    scope = "domain"


class RoleAssignments(_Admin):
    """GET /role_assignments?user.id=&scope.project.id=&scope.domain.id=&role.id=[&include_names].

    A domain manager sees the assignments inside their domain: on its projects and on itself.
    """

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.authorize(req, "list_role_assignments", lambda caller: {
            "user_id": req.get_param("user.id"), "domain_id": _scoped_domain(caller)})
        limit_to = None if _is_admin(caller) or req.get_param("user.id") == caller.user.id else _scoped_domain(caller)
        names = "include_names" in req.params and req.get_param("include_names") not in ("0", "false", "False")
        with self.db.reader() as session:
            domains = {row.id: row.name for row in session.scalars(select(Domain))}
            rows = []
            if "scope.domain.id" not in req.params:
                query = (select(RoleAssignment.user_id, RoleAssignment.project_id, RoleAssignment.role_id,
                                Role.name, User.name, User.domain_id, Project.name, Project.domain_id)
                         .join(Role, Role.id == RoleAssignment.role_id).join(User, User.id == RoleAssignment.user_id)
                         .join(Project, Project.id == RoleAssignment.project_id))
                query = _assignment_filters(req, query, RoleAssignment, RoleAssignment.project_id, "scope.project.id")
                if limit_to:
                    query = query.where(Project.domain_id == limit_to)
                rows += [("project", *row) for row in session.execute(query)]
            if "scope.project.id" not in req.params:
                query = (select(DomainRoleAssignment.user_id, DomainRoleAssignment.domain_id,
                                DomainRoleAssignment.role_id, Role.name, User.name, User.domain_id,
                                Domain.name, Domain.id)
                         .join(Role, Role.id == DomainRoleAssignment.role_id)
                         .join(User, User.id == DomainRoleAssignment.user_id)
                         .join(Domain, Domain.id == DomainRoleAssignment.domain_id))
                query = _assignment_filters(req, query, DomainRoleAssignment, DomainRoleAssignment.domain_id,
                                            "scope.domain.id")
                if limit_to:
                    query = query.where(DomainRoleAssignment.domain_id == limit_to)
                rows += [("domain", *row) for row in session.execute(query)]
        base = self.base(req)
        assignments = []
        for kind, user_id, scope_id, role_id, role_name, user_name, user_domain, scope_name, scope_domain in rows:
            item = {"role": {"id": role_id}, "user": {"id": user_id}, "scope": {kind: {"id": scope_id}},
                    "links": {"assignment": f"{base}{PREFIX}/{kind}s/{scope_id}/users/{user_id}/roles/{role_id}"}}
            if names:
                item["role"]["name"] = role_name
                item["user"].update(name=user_name, domain={"id": user_domain, "name": domains.get(user_domain)})
                item["scope"][kind]["name"] = scope_name
                if kind == "project":
                    item["scope"][kind]["domain"] = {"id": scope_domain, "name": domains.get(scope_domain)}
            assignments.append(item)
        resp.media = {"role_assignments": assignments, "links": _list_links(base, "role_assignments")}


def _assignment_filters(req: falcon.Request, query, model, scope_column, scope_param: str):
    for param, column in (("user.id", model.user_id), (scope_param, scope_column), ("role.id", model.role_id)):
        if param in req.params:
            query = query.where(column == req.get_param(param))
    return query


# -- application credentials -------------------------------------------------------------------

APP_CRED_CREATE = _body("application_credential", {
    "name": _name, "description": _text, "secret": {"type": ["string", "null"], "minLength": 1},
    "expires_at": {"type": ["string", "null"]}, "unrestricted": _bool,
    "roles": {"type": "array", "items": {"type": "object", "properties": {"id": _id, "name": _name},
                                         "additionalProperties": False}},
    "access_rules": {"type": "array", "maxItems": 0}}, ("name",))


def app_cred_view(credential: ApplicationCredential, roles: dict[str, str], base: str) -> dict:
    return {"id": credential.id, "name": credential.name, "description": credential.description,
            "user_id": credential.user_id, "project_id": credential.project_id,
            "roles": [{"id": role_id, "name": roles.get(role_id), "domain_id": None}
                      for role_id in credential.roles or ()],
            "expires_at": _iso_or_none(credential.expires_at), "unrestricted": credential.unrestricted,
            "access_rules": [],
            "links": _links(base, f"users/{credential.user_id}/application_credentials", credential.id)}


def _iso_or_none(moment: dt.datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") if moment else None


def _role_names(session) -> dict[str, str]:
    return dict(session.execute(select(Role.id, Role.name)).all())


class ApplicationCredentials(_Admin):
    """GET and POST /users/{u}/application_credentials: a user's own credentials for scripts and tools.

    The secret is shown once, in the creation's answer, and stored only as an argon2id hash.
    A credential delegates some or all of its creator's roles on the project of the token that
    created it, and never more than the user still holds when it is used.
    """

    def _owner(self, req: falcon.Request, user_id: str, action: str) -> Identity:
        return self.authorize(req, action, {"user_id": user_id})

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        self._owner(req, user_id, "list_application_credentials")
        query = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
        if "name" in req.params:
            query = query.where(ApplicationCredential.name == req.get_param("name"))
        with self.db.reader() as session:
            rows, names = session.scalars(query.order_by(ApplicationCredential.name)).all(), _role_names(session)
        base = self.base(req)
        resp.media = {"application_credentials": [app_cred_view(row, names, base) for row in rows],
                      "links": _list_links(base, f"users/{user_id}/application_credentials")}

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        caller = self._owner(req, user_id, "create_application_credential")
        if caller.restricted:
            raise _forbidden("create_application_credential")
        if caller.project is None:
            raise Fault(400, "An application credential is created with a project-scoped token.")
        ref = _read(req, APP_CRED_CREATE, "application_credential")
        held = {role.id: role.name for role in caller.roles}
        wanted = []
        for role in ref.get("roles") or [{"id": role_id} for role_id in held]:
            role_id = role.get("id") or next((i for i, n in held.items() if n == role.get("name")), None)
            if role_id not in held:
                raise _not_found("role assignment", f"{role.get('id') or role.get('name')} of {user_id} on "
                                                    f"{caller.project.id}")
            wanted.append(role_id)
        expires_at = _parse_expiry(ref.get("expires_at"))
        secret = ref.get("secret") or secrets.token_urlsafe(64)
        try:
            with self.db.writer() as session:
                credential = ApplicationCredential(
                    id=new_id(), name=ref["name"], user_id=user_id, project_id=caller.project.id,
                    secret_hash=passwords.hash_secret(secret), description=ref.get("description"),
                    expires_at=expires_at, unrestricted=ref.get("unrestricted", False),
                    roles=list(dict.fromkeys(wanted)))
                session.add(credential)
        except IntegrityError:
            raise Fault(409, "Conflict occurred attempting to store application_credential - Duplicate entry "
                             "found with name.") from None
        resp.status = 201
        resp.media = {"application_credential": {**app_cred_view(credential, held, self.base(req)),
                                                 "secret": secret}}


class ApplicationCredentialItem(ApplicationCredentials):
    def _find(self, session, user_id: str, credential_id: str) -> ApplicationCredential:
        credential = session.get(ApplicationCredential, credential_id)
        if credential is None or credential.user_id != user_id:
            raise _not_found("application credential", credential_id)
        return credential

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str, credential_id: str) -> None:
        self._owner(req, user_id, "get_application_credential")
        with self.db.reader() as session:
            credential, names = self._find(session, user_id, credential_id), _role_names(session)
        resp.media = {"application_credential": app_cred_view(credential, names, self.base(req))}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user_id: str, credential_id: str) -> None:
        caller = self._owner(req, user_id, "delete_application_credential")
        if caller.restricted:
            raise _forbidden("delete_application_credential")
        with self.db.writer() as session:
            session.delete(self._find(session, user_id, credential_id))
        resp.status = 204


def _parse_expiry(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Fault(400, f"Invalid expires_at {text!r}: an ISO 8601 date and time is expected.") from None
    moment = moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment
    if moment <= utcnow():
        raise Fault(400, "The expiration time of an application credential must be in the future.")
    return moment
