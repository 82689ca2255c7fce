"""`ncloud identity bootstrap`: the identity a new cloud starts with, as keystone-manage bootstrap.

Idempotent: the domain Default, the roles admin, manager, member and reader, the admin project
and user with the admin role on it, and the catalog (compute, image and identity, each with a
public, internal and admin endpoint in one region). Running it again creates what is missing,
points endpoints at the configured URLs and resets the admin's password to the configured one.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import CatalogService, Domain, Endpoint, Project, Role, RoleAssignment, User
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.identity import passwords

DEFAULT_DOMAIN_ID = "default"
ROLES = ("admin", "manager", "member", "reader")
# service type -> (name, path under the base URL)
SERVICES = {"compute": ("nova", "/compute/v2.1"), "image": ("glance", "/image"), "identity": ("keystone", "/identity")}
INTERFACES = ("public", "internal", "admin")


class BootstrapError(ValueError):
    """The configuration lacks what bootstrap needs."""


def new_id() -> str:
    return uuid.uuid4().hex


def base_urls(conf: Config) -> dict[str, str]:
    public = (conf.identity.public_url or f"http://{conf.default.host}:{conf.api.bind_port}").rstrip("/")
    return {"public": public, "internal": (conf.identity.internal_url or public).rstrip("/"),
            "admin": (conf.identity.admin_url or public).rstrip("/")}


def bootstrap(db: Database, conf: Config) -> dict:
    """Create or update the bootstrap identity; returns the ids of the admin user and project and
    `changed`, what it had to create or update (empty when everything was already so: deployment
    tools report "no change" from it)."""
    password = conf.identity.admin_password
    if not password:
        raise BootstrapError("[identity] admin_password is empty: set it (or NCLOUD_IDENTITY__ADMIN_PASSWORD)")
    urls = base_urls(conf)
    changed: list[str] = []
    with db.writer() as session:
        if session.get(Domain, DEFAULT_DOMAIN_ID) is None:
            session.add(Domain(id=DEFAULT_DOMAIN_ID, name="Default", description="The default domain"))
            session.flush()
            changed.append("domain Default")
        roles = {name: _ensure(session, Role, {"name": name}, changed) for name in ROLES}
        project = _ensure(session, Project, {"name": conf.identity.admin_project, "domain_id": DEFAULT_DOMAIN_ID},
                          changed, description="Bootstrap project for the administrator")
        user = _ensure(session, User, {"name": conf.identity.admin_user, "domain_id": DEFAULT_DOMAIN_ID}, changed,
                       default_project_id=project.id)
        if not passwords.verify(user.password_hash, password):
            user.password_hash = passwords.hash_secret(password)
            changed.append(f"password of {user.name}")
        if not user.enabled:
            user.enabled = True
            changed.append(f"user {user.name} enabled")
        if session.get(RoleAssignment, (user.id, project.id, roles["admin"].id)) is None:
            session.add(RoleAssignment(user_id=user.id, project_id=project.id, role_id=roles["admin"].id))
            changed.append(f"admin role of {user.name}")
        for service_type, (name, path) in SERVICES.items():
            service = _ensure(session, CatalogService, {"type": service_type}, changed, name=name)
            for interface in INTERFACES:
                endpoint = _ensure(session, Endpoint, {"service_id": service.id, "interface": interface,
                                                       "region_id": conf.identity.region_name}, changed,
                                   url=urls[interface] + path)
                if endpoint.url != urls[interface] + path:
                    endpoint.url = urls[interface] + path
                    changed.append(f"{interface} endpoint of {service_type}")
    return {"user_id": user.id, "project_id": project.id, "changed": changed}


def _ensure(session: Session, model, keys: dict, changed: list[str] | None = None, **defaults):
    row = session.scalars(select(model).filter_by(**keys)).first()
    if row is None:
        row = model(id=new_id(), **keys, **defaults)
        session.add(row)
        session.flush()
        if changed is not None:
            changed.append(f"{model.__tablename__} {' '.join(map(str, keys.values()))}")
    return row


def ensure_user(db: Database, user_name: str, password: str, project_name: str, role_name: str = "member") -> str:
    """A user with `password` and `role_name` on a project of its own (both in Default); its id.

    For the all-in-one's ready-made end user; idempotent, and the password is reset to `password`.
    """
    with db.writer() as session:
        project = _ensure(session, Project, {"name": project_name, "domain_id": DEFAULT_DOMAIN_ID})
        user = _ensure(session, User, {"name": user_name, "domain_id": DEFAULT_DOMAIN_ID},
                       default_project_id=project.id)
        if not passwords.verify(user.password_hash, password):
            user.password_hash = passwords.hash_secret(password)
        role = session.scalars(select(Role).where(Role.name == role_name)).one()
        if session.get(RoleAssignment, (user.id, project.id, role.id)) is None:
            session.add(RoleAssignment(user_id=user.id, project_id=project.id, role_id=role.id))
    return user.id
