"""Authentication: turn credentials into a token, and a token back into who is asking.

`Authenticator.authenticate(auth)` takes the `auth` object of Keystone's POST /v3/auth/tokens
(methods `password`, `token` and `application_credential`; a project scope by id or by name and
domain, a domain scope by id or name, or none) and
returns the `Identity` it proves, with a token. `validate(text)` is what every API request runs:
the token is decrypted with the local keys, then checked against the database for what may
have changed since it was issued: a revocation, a disabled user or project, a removed role.
Nothing of that is cached, so a revocation takes effect on the next request.

Every failure to authenticate is the same 401 with the same message, whichever part was wrong
(no such user, wrong password, no role on the project), as Keystone answers: a caller learns
nothing about which names exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, exists, or_, select
from sqlalchemy.orm import Session

from ncloud.daemons.core import exception
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import (
    ApplicationCredential,
    CatalogService,
    Domain,
    DomainRoleAssignment,
    Endpoint,
    Project,
    RevocationEvent,
    Role,
    RoleAssignment,
    User,
    utcnow,
)
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.identity import passwords
from ncloud.daemons.core.identity.tokens import Token, TokenNotValid, TokenProvider, new_audit_id

UNAUTHORIZED = "The request you have made requires authentication."


class Unauthorized(exception.NcloudError):
    code = 401
    message = UNAUTHORIZED


class BadAuthRequest(exception.NcloudError):
    code = 400
    message = "{reason}"


@dataclass(frozen=True)
class Named:
    id: str
    name: str
    domain_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True)
class Identity:
    """A validated token and what it stands for now."""

    token: Token
    user: Named
    project: Named | None
    roles: tuple[Named, ...]
    # From a restricted application credential: may not create application credentials itself.
    restricted: bool = False
    domain: Named | None = None  # a domain-scoped token's domain (then project is None)

    @property
    def role_names(self) -> list[str]:
        return [role.name for role in self.roles]


class Authenticator:
    def __init__(self, conf: Config, db: Database, provider: TokenProvider | None = None):
        self.conf = conf
        self.db = db
        self.provider = provider or TokenProvider(conf.token_key_repository)

    # -- issuing -------------------------------------------------------------------------------
    def authenticate(self, auth: dict) -> tuple[str, Identity]:
        """The token text and its identity for a Keystone `auth` object; Unauthorized or BadAuthRequest."""
        identity = _object(auth, "identity", "auth")
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
            raise BadAuthRequest(reason="Expecting to find methods in identity, a list of authentication methods.")
        if len(methods) != 1 or methods[0] not in ("password", "token", "application_credential"):
            raise Unauthorized(f"Unsupported authentication method(s): {', '.join(map(str, methods))}.")
        credential_id, restricted, domain = None, False, None
        with self.db.reader() as session:
            if methods[0] == "application_credential":
                if auth.get("scope") is not None:
                    raise Unauthorized("An application credential is scoped to its project: ask for no scope.")
                credential, user = self._application_credential(
                    session, _object(identity, "application_credential", "identity"))
                project = self._project(session, select(Project).where(Project.id == credential.project_id))
                roles = _delegated(self._roles(session, user.id, credential.project_id), credential)
                if project is None or not roles:
                    raise Unauthorized()
                audit_ids, expires_at = (), _aware(credential.expires_at)
                credential_id, restricted = credential.id, not credential.unrestricted
            else:
                if methods[0] == "password":
                    user = self._password(session, _object(identity, "password", "identity"))
                    audit_ids, expires_at = (), None
                else:  # rescoping: the new token expires with the old one and shares its audit chain
                    previous = self._validated(session, _token_text(_object(identity, "token", "identity")))
                    if previous.token.application_credential_id:
                        raise Unauthorized("A token from an application credential cannot be rescoped.")
                    user, audit_ids = previous.user, previous.token.audit_ids[-1:]
                    expires_at = previous.token.expires_at
                project, domain = self._scope(session, auth.get("scope"), user)
                roles = (self._roles(session, user.id, project.id) if project
                         else self._domain_roles(session, user.id, domain.id) if domain else ())
                if (project or domain) and not roles:
                    raise Unauthorized()
        now = dt.datetime.now(dt.UTC)
        lifetime = now + dt.timedelta(seconds=self.conf.identity.token_expiration)
        token = Token(user_id=user.id, methods=tuple(methods), project_id=project.id if project else None,
                      expires_at=min(lifetime, expires_at) if expires_at else lifetime,
                      audit_ids=(new_audit_id(), *audit_ids), application_credential_id=credential_id,
                      domain_id=domain.id if domain else None)
        text = self.provider.issue(token)
        issued = self.provider.validate(text)  # the issued time as the token itself carries it
        return text, Identity(token=issued, user=user, project=project, roles=tuple(roles), restricted=restricted,
                              domain=domain)

    def _application_credential(self, session: Session, ref: dict) -> tuple[ApplicationCredential, Named]:
        secret = ref.get("secret")
        if not isinstance(secret, str):
            raise BadAuthRequest(reason="Expecting to find secret in application_credential.")
        if "id" in ref:
            query = select(ApplicationCredential).where(ApplicationCredential.id == _text(ref, "id"))
        elif "name" in ref:
            user_ref = _object(ref, "user", "application_credential")
            user_clause = ([User.id == _text(user_ref, "id")] if "id" in user_ref
                           else [User.name == _text(user_ref, "name"), *_domain_clause(user_ref, "user")])
            query = (select(ApplicationCredential).join(User, User.id == ApplicationCredential.user_id)
                     .join(Domain, Domain.id == User.domain_id)
                     .where(ApplicationCredential.name == _text(ref, "name"), *user_clause))
        else:
            raise BadAuthRequest(reason="Expecting to find id or name in application_credential.")
        credential = session.scalars(query).first()
        if not passwords.verify(credential.secret_hash if credential else None, secret) or _expired(credential):
            raise Unauthorized()
        row = session.execute(select(User, Domain).join(Domain, Domain.id == User.domain_id)
                              .where(User.id == credential.user_id)).first()
        if row is None or not row[0].enabled or not row[1].enabled:
            raise Unauthorized()
        return credential, Named(row[0].id, row[0].name, row[1].id, row[1].name)

    def _password(self, session: Session, password: dict) -> Named:
        user_ref = _object(password, "user", "password")
        secret = user_ref.get("password")
        if not isinstance(secret, str):
            raise BadAuthRequest(reason="Expecting to find password in user.")
        query = select(User, Domain).join(Domain, Domain.id == User.domain_id)
        if "id" in user_ref:
            query = query.where(User.id == _text(user_ref, "id"))
        elif "name" in user_ref:
            query = query.where(User.name == _text(user_ref, "name"), *_domain_clause(user_ref, "user"))
        else:
            raise BadAuthRequest(reason="Expecting to find id or name in user.")
        row = session.execute(query).first()
        user, domain = row if row else (None, None)
        if not passwords.verify(user.password_hash if user else None, secret) or not user.enabled \
                or not domain.enabled:
            raise Unauthorized()
        return Named(user.id, user.name, domain.id, domain.name)

    def _scope(self, session: Session, scope, user: Named) -> tuple[Named | None, Named | None]:
        """(project, domain) of the requested scope: at most one of them."""
        if scope is None or scope == "unscoped":
            row = session.get(User, user.id)
            if row.default_project_id and self._roles(session, user.id, row.default_project_id):
                return self._project(session, select(Project).where(Project.id == row.default_project_id)), None
            return None, None
        if not isinstance(scope, dict) or len(scope) != 1 or not isinstance(
                scope.get("project", scope.get("domain")), dict):
            raise BadAuthRequest(reason='The scope is {"project": {...}} or {"domain": {...}}: one of the two.')
        if "domain" in scope:
            domain_ref = scope["domain"]
            if "id" in domain_ref:
                domain = session.get(Domain, _text(domain_ref, "id"))
            elif "name" in domain_ref:
                domain = session.scalars(select(Domain).where(Domain.name == _text(domain_ref, "name"))).first()
            else:
                raise BadAuthRequest(reason="Expecting to find id or name in domain.")
            if domain is None or not domain.enabled:
                raise Unauthorized()
            return None, Named(domain.id, domain.name)
        project_ref = scope["project"]
        if "id" in project_ref:
            query = select(Project).where(Project.id == _text(project_ref, "id"))
        elif "name" in project_ref:
            query = select(Project).where(Project.name == _text(project_ref, "name"),
                                          *_domain_clause(project_ref, "project", model=Project))
        else:
            raise BadAuthRequest(reason="Expecting to find id or name in project.")
        project = self._project(session, query)
        if project is None:
            raise Unauthorized()
        return project, None

    @staticmethod
    def _project(session: Session, query) -> Named | None:
        row = session.execute(query.add_columns(Domain).join(Domain, Domain.id == Project.domain_id)).first()
        if row is None or not row[0].enabled or not row[1].enabled:
            return None
        return Named(row[0].id, row[0].name, row[1].id, row[1].name)

    @staticmethod
    def _roles(session: Session, user_id: str, project_id: str) -> list[Named]:
        rows = session.execute(select(Role.id, Role.name).join(RoleAssignment, RoleAssignment.role_id == Role.id)
                               .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
                               .order_by(Role.name)).all()
        return [Named(role_id, name) for role_id, name in rows]

    @staticmethod
    def _domain_roles(session: Session, user_id: str, domain_id: str) -> list[Named]:
        rows = session.execute(select(Role.id, Role.name)
                               .join(DomainRoleAssignment, DomainRoleAssignment.role_id == Role.id)
                               .where(DomainRoleAssignment.user_id == user_id,
                                      DomainRoleAssignment.domain_id == domain_id).order_by(Role.name)).all()
        return [Named(role_id, name) for role_id, name in rows]

    # -- validating ----------------------------------------------------------------------------
    def validate(self, text: str) -> Identity:
        """The identity behind a token now; Unauthorized if it is not (or no longer) valid."""
        with self.db.reader() as session:
            return self._validated(session, text)

    def _validated(self, session: Session, text: str) -> Identity:
        try:
            token = self.provider.validate(text)
        except TokenNotValid as error:
            raise Unauthorized(str(error)) from None
        rows = session.connection().execute(_VALIDATION, {
            "user_id": token.user_id, "project_id": token.project_id, "audit_ids": list(token.audit_ids),
            "issued": token.issued_at.replace(tzinfo=None)}).all()
        if rows and rows[0].revoked:
            raise Unauthorized("The token has been revoked.")
        if not rows or not rows[0].user_enabled or not rows[0].user_domain_enabled:
            raise Unauthorized()
        first = rows[0]
        user = Named(token.user_id, first.user_name, first.user_domain_id, first.user_domain_name)
        project, roles, restricted = None, [], False
        if token.project_id is not None:
            if first.project_name is not None and first.project_enabled and first.project_domain_enabled:
                project = Named(token.project_id, first.project_name, first.project_domain_id,
                                first.project_domain_name)
                roles = sorted((Named(row.role_id, row.role_name) for row in rows if row.role_id is not None),
                               key=lambda role: role.name)
            if token.application_credential_id is not None:
                credential = session.get(ApplicationCredential, token.application_credential_id)
                if credential is None or credential.user_id != user.id or _expired(credential):
                    raise Unauthorized()
                roles, restricted = _delegated(roles, credential), not credential.unrestricted
            if not roles:
                raise Unauthorized()
        domain = None
        if token.domain_id is not None:
            row = session.get(Domain, token.domain_id)
            roles = self._domain_roles(session, user.id, token.domain_id) if row is not None and row.enabled else []
            if not roles:
                raise Unauthorized()
            domain = Named(row.id, row.name)
        return Identity(token=token, user=user, project=project, roles=tuple(roles), restricted=restricted,
                        domain=domain)

    def revoke(self, identity: Identity) -> None:
        """Revoke this token and every token rescoped from it (their last audit id is its first)."""
        with self.db.writer() as session:
            record_revocation(session, audit_id=identity.token.audit_ids[0], user_id=identity.user.id,
                              expires_at=identity.token.expires_at.replace(tzinfo=None))

    def projects_of(self, user_id: str) -> list[Project]:
        """The enabled projects the user has a role on, by name."""
        with self.db.reader() as session:
            return list(session.scalars(
                select(Project).join(RoleAssignment, RoleAssignment.project_id == Project.id)
                .where(RoleAssignment.user_id == user_id, Project.enabled.is_(True))
                .distinct().order_by(Project.name)))

    def holds_admin_role(self, user_id: str) -> bool:
        """Whether the user is `admin` anywhere (on a project or a domain): a cloud administrator."""
        with self.db.reader() as session:
            return bool(session.scalar(select(
                exists().where(RoleAssignment.user_id == user_id, RoleAssignment.role_id == Role.id,
                               Role.name == "admin")
                | exists().where(DomainRoleAssignment.user_id == user_id,
                                 DomainRoleAssignment.role_id == Role.id, Role.name == "admin"))))

    # -- the catalog ---------------------------------------------------------------------------
    def catalog(self) -> list[dict]:
        """Keystone's catalog: one entry per service, its enabled endpoints."""
        with self.db.reader() as session:
            rows = session.execute(select(CatalogService, Endpoint)
                                   .join(Endpoint, Endpoint.service_id == CatalogService.id)
                                   .where(CatalogService.enabled.is_(True), Endpoint.enabled.is_(True))
                                   .order_by(CatalogService.type, Endpoint.interface)).all()
        services: dict[str, dict] = {}
        for service, endpoint in rows:
            entry = services.setdefault(service.id, {"id": service.id, "type": service.type, "name": service.name,
                                                     "endpoints": []})
            entry["endpoints"].append({"id": endpoint.id, "interface": endpoint.interface,
                                       "region_id": endpoint.region_id, "region": endpoint.region_id,
                                       "url": endpoint.url})
        return list(services.values())


def record_revocation(session: Session, expires_at: dt.datetime, **match) -> None:
    """Add a revocation event (tokens of `match` issued until now) and purge the expired ones.

    An event whose `expires_at` has passed can match no token that is still valid, so it goes
    (as Keystone prunes at each revocation): the table, read by every validation, stays as
    small as the revocations of one token lifetime.
    """
    now = utcnow()
    session.execute(delete(RevocationEvent).where(RevocationEvent.expires_at < now))
    session.add(RevocationEvent(issued_before=now, expires_at=expires_at, **match))


def _validation_statement():
    """Everything a token's validation reads, in one statement built once (a tenth of a request's
    cost went into building four ORM queries): the user and its domain, the project and its
    domain, the user's roles on the project (one row each), and whether a revocation event
    matches the token."""
    user_domain, project_domain = Domain.__table__.alias("user_domain"), Domain.__table__.alias("project_domain")
    users, projects = User.__table__, Project.__table__
    assignments, roles, events = RoleAssignment.__table__, Role.__table__, RevocationEvent.__table__
    revoked = exists().where(or_(
        events.c.audit_id.in_(bindparam("audit_ids", expanding=True)),
        (events.c.user_id == bindparam("user_id")) & events.c.audit_id.is_(None)
        & (events.c.issued_before >= bindparam("issued"))))
    return (select(users.c.name.label("user_name"), users.c.enabled.label("user_enabled"),
                   user_domain.c.id.label("user_domain_id"), user_domain.c.name.label("user_domain_name"),
                   user_domain.c.enabled.label("user_domain_enabled"),
                   projects.c.name.label("project_name"), projects.c.enabled.label("project_enabled"),
                   project_domain.c.id.label("project_domain_id"),
                   project_domain.c.name.label("project_domain_name"),
                   project_domain.c.enabled.label("project_domain_enabled"),
                   roles.c.id.label("role_id"), roles.c.name.label("role_name"), revoked.label("revoked"))
            .select_from(users.join(user_domain, user_domain.c.id == users.c.domain_id)
                         .outerjoin(projects, projects.c.id == bindparam("project_id"))
                         .outerjoin(project_domain, project_domain.c.id == projects.c.domain_id)
                         .outerjoin(assignments, (assignments.c.user_id == users.c.id)
                                    & (assignments.c.project_id == projects.c.id))
                         .outerjoin(roles, roles.c.id == assignments.c.role_id))
            .where(users.c.id == bindparam("user_id")))


_VALIDATION = _validation_statement()


def _delegated(roles: list[Named], credential: ApplicationCredential) -> list[Named]:
    """The roles an application credential delegates that its user still holds."""
    return [role for role in roles if role.id in set(credential.roles or ())]


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.replace(tzinfo=dt.UTC) if moment is not None else None


def _expired(credential: ApplicationCredential | None) -> bool:
    return credential is not None and credential.expires_at is not None and credential.expires_at <= utcnow()


def token_body(identity: Identity, catalog: list[dict] | None) -> dict:
    """The `token` document of Keystone's token responses."""
    token = identity.token
    body = {
        "methods": list(token.methods),
        "user": {"id": identity.user.id, "name": identity.user.name, "password_expires_at": None,
                 "domain": {"id": identity.user.domain_id, "name": identity.user.domain_name}},
        "audit_ids": list(token.audit_ids),
        "expires_at": _iso(token.expires_at),
        "issued_at": _iso(token.issued_at),
    }
    if identity.project is not None:
        body["project"] = {"id": identity.project.id, "name": identity.project.name,
                           "domain": {"id": identity.project.domain_id, "name": identity.project.domain_name}}
        body["is_domain"] = False
    elif identity.domain is not None:
        body["domain"] = {"id": identity.domain.id, "name": identity.domain.name}
    else:
        return body  # unscoped: no roles, no catalog
    body["roles"] = [{"id": role.id, "name": role.name} for role in identity.roles]
    if catalog is not None:
        body["catalog"] = catalog
    return body


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _object(parent: dict, key: str, where: str) -> dict:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, dict):
        raise BadAuthRequest(reason=f"Expecting to find {key} in {where}. The server could not comply with the "
                                    "request since it is either malformed or otherwise incorrect.")
    return value


def _text(parent: dict, key: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value or len(value) > 255:
        raise BadAuthRequest(reason=f"Invalid {key}: a string of 1 to 255 characters is expected.")
    return value


def _token_text(token_ref: dict) -> str:
    value = token_ref.get("id")
    if not isinstance(value, str):
        raise BadAuthRequest(reason="Expecting to find id in token.")
    return value


def _domain_clause(ref: dict, what: str, model=User) -> list:
    domain = ref.get("domain")
    if not isinstance(domain, dict):
        raise BadAuthRequest(reason=f"Expecting to find domain in {what}.")
    if "id" in domain:
        return [model.domain_id == _text(domain, "id")]
    if "name" in domain:
        return [Domain.name == _text(domain, "name")]
    raise BadAuthRequest(reason="Expecting to find id or name in domain.")
