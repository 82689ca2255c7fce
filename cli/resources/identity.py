"""The Identity commands an end user and a project admin need: `project`, `user`, `role`,
`token` and `application credential` (Identity API v3)."""

from __future__ import annotations

from typing import Annotated

import typer

from ncloud.cli.cloud.context import connect
from ncloud.cli.cloud.errors import APIError, NotFound
from ncloud.cli.options import group
from ncloud.cli.output import Columns, Format, print_list, print_one
from ncloud.cli.resources.common import find, without_links

project_app = group("Projects (tenants): who owns servers and quotas.")
user_app = group("Users.")
role_app = group("Roles and who holds them where.")
role_assignment_app = group("Who holds which role where.")
role_app.add_typer(role_assignment_app, name="assignment")
token_app = group("Tokens: issue one for scripts, revoke one.")
application_app = group("Application credentials.")
credential_app = group("Application credentials: secrets for scripts, bound to one project.")
application_app.add_typer(credential_app, name="credential")

Name = Annotated[str, typer.Argument(help="Name or ID.", show_default=False)]


def project_find(session, name_or_id: str) -> dict:
    return find(session, "identity", "projects", name_or_id, query=f"?name={name_or_id}")


def user_find(session, name_or_id: str) -> dict:
    return find(session, "identity", "users", name_or_id, query=f"?name={name_or_id}")


def role_find(session, name_or_id: str) -> dict:
    return find(session, "identity", "roles", name_or_id, query=f"?name={name_or_id}")


def _domain_id(session, domain: str | None) -> str | None:
    if not domain:
        return None
    return find(session, "identity", "domains", domain, query=f"?name={domain}")["id"]


# -- project --------------------------------------------------------------------------------

@project_app.command("list")
def project_list(fmt: Format = "table", columns: Columns = None) -> None:
    """List projects (admin: all; others: their own)."""
    session = connect()
    try:
        projects = session.get("identity", "/projects")["projects"]
    except APIError as error:  # a non-admin lists the projects it is a member of
        if error.status != 403:
            raise
        projects = session.get("identity", f"/users/{session.user_id}/projects")["projects"]
    print_list([{"ID": p["id"], "Name": p["name"]} for p in projects], ("ID", "Name"), fmt, columns)


@project_app.command("show")
def project_show(project: Name, fmt: Format = "table", columns: Columns = None) -> None:
    """Show a project."""
    print_one(without_links(project_find(connect(), project)), fmt, columns)


@project_app.command("create")
def project_create(
    name: Annotated[str, typer.Argument(help="The new project's name.")],
    domain: Annotated[str | None, typer.Option("--domain", help="Its domain (default: Default).")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    disable: Annotated[bool, typer.Option("--disable", help="Created disabled.")] = False,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Create a project (admin)."""
    session = connect()
    body = {"name": name, "enabled": not disable, "description": description or "",
            "domain_id": _domain_id(session, domain) or "default"}
    project = session.request("POST", "identity", "/projects", json={"project": body}).json()["project"]
    print_one(without_links(project), fmt, columns)


@project_app.command("set")
def project_set(
    project: Name,
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    enable: Annotated[bool | None, typer.Option("--enable/--disable")] = None,
) -> None:
    """Change a project (admin)."""
    session = connect()
    changes = {k: v for k, v in (("name", name), ("description", description), ("enabled", enable)) if v is not None}
    session.request("PATCH", "identity", f"/projects/{project_find(session, project)['id']}",
                    json={"project": changes})


@project_app.command("delete")
def project_delete(projects: Annotated[list[str], typer.Argument(help="Projects.", show_default=False)]) -> None:
    """Delete projects (admin)."""
    session = connect()
    for project in projects:
        session.request("DELETE", "identity", f"/projects/{project_find(session, project)['id']}")


# -- user -----------------------------------------------------------------------------------

@user_app.command("list")
def user_list(fmt: Format = "table", columns: Columns = None) -> None:
    """List users (admin)."""
    users = connect().get("identity", "/users")["users"]
    print_list([{"ID": u["id"], "Name": u["name"]} for u in users], ("ID", "Name"), fmt, columns)


@user_app.command("show")
def user_show(user: Name, fmt: Format = "table", columns: Columns = None) -> None:
    """Show a user."""
    print_one(without_links(user_find(connect(), user)), fmt, columns)


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="The new user's name.")],
    password: Annotated[str | None, typer.Option("--password", help="Its password.")] = None,
    password_prompt: Annotated[bool, typer.Option("--password-prompt", help="Ask for the password.")] = False,
    project: Annotated[str | None, typer.Option("--project", help="Its default project.")] = None,
    domain: Annotated[str | None, typer.Option("--domain")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Create a user (admin)."""
    if password_prompt:
        password = typer.prompt("User password", hide_input=True, confirmation_prompt=True)
    session = connect()
    body = {"name": name, "enabled": True, "domain_id": _domain_id(session, domain) or "default"}
    for key, value in (("password", password), ("email", email), ("description", description)):
        if value is not None:
            body[key] = value
    if project:
        body["default_project_id"] = project_find(session, project)["id"]
    user = session.request("POST", "identity", "/users", json={"user": body}).json()["user"]
    print_one(without_links(user), fmt, columns)


@user_app.command("set")
def user_set(
    user: Name,
    name: Annotated[str | None, typer.Option("--name")] = None,
    password: Annotated[str | None, typer.Option("--password")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    enable: Annotated[bool | None, typer.Option("--enable/--disable")] = None,
) -> None:
    """Change a user (admin)."""
    session = connect()
    changes = {k: v for k, v in (("name", name), ("password", password), ("email", email), ("enabled", enable))
               if v is not None}
    session.request("PATCH", "identity", f"/users/{user_find(session, user)['id']}", json={"user": changes})


@user_app.command("delete")
def user_delete(users: Annotated[list[str], typer.Argument(help="Users.", show_default=False)]) -> None:
    """Delete users (admin)."""
    session = connect()
    for user in users:
        session.request("DELETE", "identity", f"/users/{user_find(session, user)['id']}")


# -- role -----------------------------------------------------------------------------------

@role_app.command("list")
def role_list(fmt: Format = "table", columns: Columns = None) -> None:
    """List roles."""
    roles = connect().get("identity", "/roles")["roles"]
    print_list([{"ID": r["id"], "Name": r["name"]} for r in roles], ("ID", "Name"), fmt, columns)


def _grant(method: str, role: str, project: str, user: str) -> None:
    session = connect()
    path = (f"/projects/{project_find(session, project)['id']}/users/{user_find(session, user)['id']}"
            f"/roles/{role_find(session, role)['id']}")
    session.request(method, "identity", path)


@role_app.command("add")
def role_add(role: Name, project: Annotated[str, typer.Option("--project", help="Where.")],
             user: Annotated[str, typer.Option("--user", help="Who.")]) -> None:
    """Give a user a role on a project (admin)."""
    _grant("PUT", role, project, user)


@role_app.command("remove")
def role_remove(role: Name, project: Annotated[str, typer.Option("--project", help="Where.")],
                user: Annotated[str, typer.Option("--user", help="Who.")]) -> None:
    """Take a role on a project from a user (admin)."""
    _grant("DELETE", role, project, user)


@role_assignment_app.command("list")
def role_assignment_list(
    user: Annotated[str | None, typer.Option("--user")] = None,
    project: Annotated[str | None, typer.Option("--project")] = None,
    names: Annotated[bool, typer.Option("--names", help="Names instead of IDs.")] = False,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """List role assignments."""
    session = connect()
    params = {"include_names": "true"} if names else {}
    if user:
        params["user.id"] = user_find(session, user)["id"]
    if project:
        params["scope.project.id"] = project_find(session, project)["id"]
    assignments = session.get("identity", "/role_assignments", params=params)["role_assignments"]

    def label(item: dict) -> str:
        return (item.get("name") or item.get("id", "")) if names else item.get("id", "")

    rows = [{"Role": label(a["role"]), "User": label(a.get("user") or {}),
             "Project": label((a.get("scope") or {}).get("project") or {}),
             "Domain": label((a.get("scope") or {}).get("domain") or {})} for a in assignments]
    print_list(rows, ("Role", "User", "Project", "Domain"), fmt, columns)


# -- token ----------------------------------------------------------------------------------

@token_app.command("issue")
def token_issue(fmt: Format = "table", columns: Columns = None) -> None:
    """Issue a token (the cached one while it is good) for scripts: `-f value -c id`."""
    from datetime import UTC, datetime

    session = connect()
    login = session.login_data
    record = {"expires": datetime.fromtimestamp(login["expires_at"], UTC).isoformat().replace("+00:00", "Z"),
              "id": login["token"], "project_id": login.get("project_id"), "user_id": login.get("user_id")}
    print_one(record, fmt, columns)


@token_app.command("revoke")
def token_revoke(token: Annotated[str, typer.Argument(help="The token to revoke.")]) -> None:
    """Revoke a token."""
    connect().request("DELETE", "identity", "/auth/tokens", headers={"X-Subject-Token": token})


# -- application credential -------------------------------------------------------------------

def _credentials_path(session) -> str:
    return f"/users/{session.user_id}/application_credentials"


def _credential_lookup(session, name_or_id: str) -> dict:
    base = _credentials_path(session)
    try:
        return session.get("identity", f"{base}/{name_or_id}")["application_credential"]
    except NotFound:
        found = session.get("identity", base, params={"name": name_or_id})["application_credentials"]
        if not found:
            raise NotFound(404, f"No application credential with a name or ID of '{name_or_id}' exists.") from None
        return found[0]


@credential_app.command("create")
def credential_create(
    name: Annotated[str, typer.Argument(help="The new credential's name.")],
    secret: Annotated[str | None, typer.Option("--secret", help="Its secret (default: generated).")] = None,
    roles: Annotated[list[str] | None, typer.Option("--role", help="Only this role of yours (repeat).")] = None,
    expiration: Annotated[str | None, typer.Option("--expiration", help="When it expires (ISO 8601).")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    unrestricted: Annotated[bool, typer.Option("--unrestricted", help="May create more credentials.")] = False,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Create an application credential for your current project (its secret is shown once)."""
    session = connect()
    body = {"name": name, "unrestricted": unrestricted}
    for key, value in (("secret", secret), ("expires_at", expiration), ("description", description)):
        if value is not None:
            body[key] = value
    if roles:
        body["roles"] = [{"name": role} for role in roles]
    created = session.request("POST", "identity", _credentials_path(session),
                              json={"application_credential": body}).json()["application_credential"]
    created["roles"] = " ".join(role.get("name", role.get("id", "")) for role in created.get("roles") or [])
    print_one(without_links(created), fmt, columns)


@credential_app.command("list")
def credential_list(fmt: Format = "table", columns: Columns = None) -> None:
    """List your application credentials."""
    session = connect()
    found = session.get("identity", _credentials_path(session))["application_credentials"]
    rows = [{"ID": c["id"], "Name": c["name"], "Project ID": c.get("project_id"), "Description": c.get("description"),
             "Expires At": c.get("expires_at")} for c in found]
    print_list(rows, ("ID", "Name", "Project ID", "Description", "Expires At"), fmt, columns)


@credential_app.command("show")
def credential_show(credential: Name, fmt: Format = "table", columns: Columns = None) -> None:
    """Show an application credential."""
    found = _credential_lookup(connect(), credential)
    found["roles"] = " ".join(role.get("name", role.get("id", "")) for role in found.get("roles") or [])
    print_one(without_links(found), fmt, columns)


@credential_app.command("delete")
def credential_delete(credentials: Annotated[list[str], typer.Argument(help="Credentials.",
                                                                       show_default=False)]) -> None:
    """Delete application credentials."""
    session = connect()
    for credential in credentials:
        found = _credential_lookup(session, credential)
        session.request("DELETE", "identity", f"{_credentials_path(session)}/{found['id']}")
