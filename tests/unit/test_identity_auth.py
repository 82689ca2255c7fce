"""Authentication and validation on every database backend (the validation is one hand-built query)."""

import datetime as dt

import pytest
from sqlalchemy import delete, select, update

from ncloud.daemons.core import config
from ncloud.daemons.core.db.models import (
    DomainRoleAssignment,
    Project,
    RevocationEvent,
    Role,
    RoleAssignment,
    User,
    utcnow,
)
from ncloud.daemons.core.identity import bootstrap, keys
from ncloud.daemons.core.identity.auth import Authenticator, Unauthorized


@pytest.fixture
def authenticator(db, tmp_path):
    conf = config.load(None, environ={"NCLOUD_DEFAULT__STATE_PATH": str(tmp_path),
                                      "NCLOUD_IDENTITY__ADMIN_PASSWORD": "pw"})
    keys.setup(conf.token_key_repository, 3)
    bootstrap.bootstrap(db, conf)
    bootstrap.ensure_user(db, "demo", "demopw", "demo")
    return Authenticator(conf, db)


def login(authenticator, user, password, project=None):
    auth = {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"name": "Default"}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
    return authenticator.authenticate(auth)


def test_validation_sees_roles_revocations_and_removed_assignments(authenticator, db):
    text, issued = login(authenticator, "demo", "demopw", "demo")
    identity = authenticator.validate(text)
    assert identity.user == issued.user and identity.project == issued.project
    assert [role.name for role in identity.roles] == ["member"]
    admin_text, _ = login(authenticator, "admin", "pw", "admin")
    assert [role.name for role in authenticator.validate(admin_text).roles] == ["admin"]

    authenticator.revoke(identity)
    with pytest.raises(Unauthorized, match="revoked"):
        authenticator.validate(text)
    text, _ = login(authenticator, "demo", "demopw", "demo")  # a new token is not revoked
    assert authenticator.validate(text).project.name == "demo"
    with db.writer() as session:
        session.execute(delete(RoleAssignment).where(RoleAssignment.project_id == identity.project.id))
    with pytest.raises(Unauthorized):
        authenticator.validate(text)


def test_a_disabled_project_ends_its_tokens(authenticator, db):
    text, identity = login(authenticator, "demo", "demopw", "demo")
    with db.writer() as session:
        session.get(Project, identity.project.id).enabled = False
    with pytest.raises(Unauthorized):
        authenticator.validate(text)


def test_no_scope_means_the_default_project_and_no_role_means_no_rescope(authenticator):
    text, _ = login(authenticator, "admin", "pw")  # no scope asked: the default project
    assert authenticator.validate(text).project.name == "admin"
    auth = {"identity": {"methods": ["token"], "token": {"id": text}}, "scope": {"project": {"name": "demo",
                                                                                        "domain": {"id": "default"}}}}
    with pytest.raises(Unauthorized):  # admin has no role on demo
        authenticator.authenticate(auth)


def test_expired_revocation_events_are_purged_at_the_next_revocation(authenticator, db):
    first, _ = login(authenticator, "demo", "demopw", "demo")
    authenticator.revoke(authenticator.validate(first))
    with db.writer() as session:  # as if that token's lifetime had passed
        session.execute(update(RevocationEvent).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    second, _ = login(authenticator, "demo", "demopw", "demo")
    authenticator.revoke(authenticator.validate(second))
    with db.reader() as session:
        events = session.scalars(select(RevocationEvent)).all()
    assert len(events) == 1 and events[0].expires_at > utcnow()  # the live one stays
    with pytest.raises(Unauthorized, match="revoked"):
        authenticator.validate(second)


def test_a_domain_scoped_token_validates_with_the_users_roles_on_the_domain(authenticator, db):
    with db.writer() as session:
        manager = session.scalar(select(Role.id).where(Role.name == "manager"))
        user_id = session.scalar(select(User.id).where(User.name == "demo"))
        session.add(DomainRoleAssignment(user_id=user_id, domain_id="default", role_id=manager))
    auth = {"identity": {"methods": ["password"], "password": {
        "user": {"name": "demo", "domain": {"id": "default"}, "password": "demopw"}}},
        "scope": {"domain": {"name": "Default"}}}
    text, issued = authenticator.authenticate(auth)
    identity = authenticator.validate(text)
    assert identity.domain == issued.domain and identity.domain.id == "default" and identity.project is None
    assert [role.name for role in identity.roles] == ["manager"]
    with db.writer() as session:
        session.execute(delete(DomainRoleAssignment))
    with pytest.raises(Unauthorized):
        authenticator.validate(text)
