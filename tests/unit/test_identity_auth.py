"""Authentication and validation on every database backend (the validation is one hand-built query)."""

import pytest
from sqlalchemy import delete

from ncloud.daemons.core import config
from ncloud.daemons.core.db.models import Project, RoleAssignment
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
