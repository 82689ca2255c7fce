"""`ncloud identity bootstrap`: the identity a new cloud starts with, made once and kept in step."""

import pytest
from sqlalchemy import func, select

from ncloud.daemons.core import config
from ncloud.daemons.core.db.models import CatalogService, Endpoint, Project, Role, RoleAssignment, User
from ncloud.daemons.core.identity import bootstrap, passwords

MODELS = (Role, Project, User, RoleAssignment, CatalogService, Endpoint)


def conf_with(**identity):
    return config.load(None, environ={f"NCLOUD_IDENTITY__{k.upper()}": v for k, v in identity.items()})


def counts(db):
    with db.reader() as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model)) for model in MODELS}


def test_bootstrap_creates_the_admin_roles_and_catalog(db):
    found = bootstrap.bootstrap(db, conf_with(admin_password="s3cret", public_url="http://api.example:8774/"))
    with db.reader() as session:
        user = session.get(User, found["user_id"])
        assert (user.name, user.domain_id, user.default_project_id) == ("admin", "default", found["project_id"])
        assert passwords.verify(user.password_hash, "s3cret") and not passwords.verify(user.password_hash, "S3cret")
        assert "s3cret" not in user.password_hash and user.password_hash.startswith("$argon2id$")
        assert {role.name for role in session.scalars(select(Role))} == {"admin", "manager", "member", "reader"}
        admin = session.scalars(select(Role).where(Role.name == "admin")).one()
        assert session.get(RoleAssignment, (user.id, found["project_id"], admin.id)) is not None
        catalog = {(service.type, endpoint.interface, endpoint.region_id): endpoint.url
                   for endpoint, service in session.execute(
                       select(Endpoint, CatalogService).join(CatalogService, CatalogService.id == Endpoint.service_id))}
    assert catalog[("compute", "public", "RegionOne")] == "http://api.example:8774/compute/v2.1"
    assert catalog[("image", "internal", "RegionOne")] == "http://api.example:8774/image"
    assert catalog[("identity", "admin", "RegionOne")] == "http://api.example:8774/identity"
    assert len(catalog) == 9


def test_bootstrap_again_changes_nothing_but_the_password_and_urls(db):
    first = bootstrap.bootstrap(db, conf_with(admin_password="one", public_url="http://a:1"))
    before = counts(db)
    again = bootstrap.bootstrap(db, conf_with(admin_password="two", public_url="http://b:2"))
    assert (again["user_id"], again["project_id"]) == (first["user_id"], first["project_id"])
    assert counts(db) == before
    assert "password of admin" in again["changed"] and "public endpoint of compute" in again["changed"]
    with db.reader() as session:
        assert passwords.verify(session.get(User, first["user_id"]).password_hash, "two")
        urls = set(session.scalars(select(Endpoint.url)))
    assert urls == {"http://b:2/compute/v2.1", "http://b:2/image", "http://b:2/identity"}


def test_bootstrap_without_a_password_says_which_option_to_set(db):
    with pytest.raises(bootstrap.BootstrapError, match=r"\[identity\] admin_password"):
        bootstrap.bootstrap(db, conf_with())


def test_bootstrap_reports_what_it_changed_and_nothing_when_all_is_so(db):
    """Deployment tools report "no change" from a second run with the same settings."""
    conf = conf_with(admin_password="one", public_url="http://a:1")
    first = bootstrap.bootstrap(db, conf)
    assert "users admin default" in first["changed"] and len(first["changed"]) > 10
    assert bootstrap.bootstrap(db, conf)["changed"] == []
