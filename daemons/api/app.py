"""The Compute API as a WSGI application: `create_app(conf, db, transport)`.

This module only wires things together: middleware (request id, authentication, microversion
headers), Nova-shaped error handling, and the route table. Resources live one per module under
`resources/`; what a server boot or delete does lives in `boot.py` and `delete.py`.

Routes (all under /compute/v2.1 unless noted):
    GET  /compute/, /compute/v2.1/, /compute/v2/   version documents (no token needed); /compute/v2/...
                                          is the v2.0 API, served by the v2.1 routes at microversion 2.1
    GET  /healthcheck                     database and message bus reachable? (no token needed)
    GET, POST       /servers              GET /servers/detail     GET, PUT, DELETE /servers/{id}
    POST /servers/{id}/action             stop, start, reboot, pause, suspend and back, lock, console log
    /servers/{id}/metadata[/{key}], /servers/{id}/tags[/{tag}] (2.26), GET /servers/{id}/ips
    GET  /servers/{id}/os-instance-actions[/{request_id}]
    GET, POST       /flavors              GET /flavors/detail     GET, PUT, DELETE /flavors/{id}
    /flavors/{id}/os-extra_specs[/{key}], GET /flavors/{id}/os-flavor-access, POST /flavors/{id}/action
    GET, POST /os-keypairs                GET, DELETE /os-keypairs/{name}
    GET, PUT, DELETE /os-quota-sets/{project}   GET .../defaults, .../detail
    GET, PUT  /os-quota-class-sets/{class}      GET /limits
    GET, POST /os-server-groups           GET, DELETE /os-server-groups/{id}
    GET  /os-simple-tenant-usage[/{project}]
    GET, POST /os-aggregates              GET, PUT, DELETE /os-aggregates/{id}, POST .../action (admin)
    GET  /os-availability-zone, /os-availability-zone/detail (admin)
    GET  /os-services                      PUT, DELETE /os-services/{id or action}
    GET  /os-hypervisors, /os-hypervisors/detail, /os-hypervisors/{id}
Identity v3 (identity/resources.py):
    GET  /identity, /identity/v3          version documents (no token needed)
    POST, GET, HEAD, DELETE /identity/v3/auth/tokens
    GET  /identity/v3/auth/catalog, /identity/v3/auth/projects
    domains, projects, users, roles, role assignments, application credentials (identity/admin.py)
Image v2 (image/resources.py):
    GET  /image, /image/versions          version documents (no token needed)
    GET, POST /image/v2/images            GET, DELETE /image/v2/images/{id}
    PUT, GET  /image/v2/images/{id}/file
    GET, POST /image/v2/images/{id}/members      GET, PUT, DELETE /image/v2/images/{id}/members/{project}
"""

from __future__ import annotations

import functools

import falcon
import orjson

from ncloud.daemons.api import errors, middleware, policy
from ncloud.daemons.api.identity import admin as identity_admin
from ncloud.daemons.api.identity import catalog as identity_catalog
from ncloud.daemons.api.identity import limits as identity_limits
from ncloud.daemons.api.identity import resources as identity
from ncloud.daemons.api.image import resources as image
from ncloud.daemons.api.image import schemas as image_schemas
from ncloud.daemons.api.resources import (
    aggregates,
    availability_zones,
    flavor_extras,
    flavors,
    health,
    hypervisors,
    instance_actions,
    keypairs,
    migrations,
    quotas,
    remote_consoles,
    server_action,
    server_groups,
    server_hardware,
    server_metadata,
    servers,
    services,
    tenant_usage,
    usage_audit_log,
    versions,
)
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.identity.auth import Authenticator
from ncloud.daemons.core.rpc import Transport

PREFIX = middleware.API_PREFIX


def create_app(conf: Config, db: Database, transport: Transport) -> falcon.App:
    authenticator = Authenticator(conf, db)
    authentication = (middleware.NoAuthMiddleware() if conf.api.auth_strategy == "noauth2"
                      else middleware.TokenAuthMiddleware(authenticator))
    app = falcon.App(middleware=[middleware.RequestContextMiddleware(policy.Enforcer.from_file(conf.api.policy_file)),
                                 authentication,
                                 middleware.MicroversionMiddleware()])
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = True
    app.req_options.auto_parse_qs_csv = False
    # Responses encoded by orjson: several times faster than json on a list of a thousand servers.
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = falcon.media.JSONHandler(
        dumps=functools.partial(orjson.dumps, option=orjson.OPT_NON_STR_KEYS), loads=orjson.loads)
    errors.install(app)

    public = conf.api.public_endpoint
    app.add_route("/compute", versions.Versions(public))
    app.add_route(PREFIX, versions.Version(public))
    app.add_route(middleware.LEGACY_V2_PREFIX, versions.LegacyVersion(public))
    app.add_route("/healthcheck", health.Health(db, transport))

    app.add_route(f"{PREFIX}/servers", servers.Servers(conf, db, transport))
    app.add_route(f"{PREFIX}/servers/detail", servers.ServersDetail(conf, db, transport))
    app.add_route(f"{PREFIX}/servers/{{server_id}}", servers.Server(conf, db, transport))
    app.add_route(f"{PREFIX}/servers/{{server_id}}/action", server_action.ServerAction(conf, db, transport))
    for path, resource in (("metadata", server_metadata.ServerMetadata),
                           ("metadata/{key}", server_metadata.ServerMetadataItem),
                           ("tags", server_metadata.ServerTags), ("tags/{tag}", server_metadata.ServerTag),
                           ("ips", server_metadata.ServerIPs), ("ips/{network}", server_metadata.ServerIPs)):
        app.add_route(f"{PREFIX}/servers/{{server_id}}/{path}", resource(conf, db))
    app.add_route(f"{PREFIX}/servers/{{server_id}}/os-instance-actions", instance_actions.InstanceActions(conf, db))
    app.add_route(f"{PREFIX}/servers/{{server_id}}/os-instance-actions/{{request_id}}",
                  instance_actions.InstanceActionItem(conf, db))

    app.add_route(f"{PREFIX}/flavors", flavors.Flavors(conf, db))
    app.add_route(f"{PREFIX}/flavors/detail", flavors.FlavorsDetail(conf, db))
    app.add_route(f"{PREFIX}/flavors/{{flavor_id}}", flavors.FlavorItem(conf, db))
    app.add_route(f"{PREFIX}/flavors/{{flavor_id}}/os-extra_specs", flavor_extras.FlavorExtraSpecs(conf, db))
    app.add_route(f"{PREFIX}/flavors/{{flavor_id}}/os-extra_specs/{{key}}", flavor_extras.FlavorExtraSpec(conf, db))
    app.add_route(f"{PREFIX}/flavors/{{flavor_id}}/os-flavor-access", flavor_extras.FlavorAccessList(conf, db))
    app.add_route(f"{PREFIX}/flavors/{{flavor_id}}/action", flavor_extras.FlavorAction(conf, db))

    app.add_route("/identity", identity.Versions(public))
    app.add_route(identity.PREFIX, identity.Version(public))
    app.add_route(f"{identity.PREFIX}/auth/tokens", identity.Tokens(authenticator, public))
    app.add_route(f"{identity.PREFIX}/auth/catalog", identity.Catalog(authenticator, public))
    app.add_route(f"{identity.PREFIX}/auth/projects", identity.AuthProjects(authenticator, public))
    for path, resource in (
            ("/domains", identity_admin.Domains), ("/domains/{domain_id}", identity_admin.DomainItem),
            ("/projects", identity_admin.Projects), ("/projects/{project_id}", identity_admin.ProjectItem),
            ("/projects/{project_id}/users/{user_id}/roles", identity_admin.ProjectUserRoles),
            ("/projects/{project_id}/users/{user_id}/roles/{role_id}", identity_admin.ProjectUserRole),
            ("/domains/{domain_id}/users/{user_id}/roles", identity_admin.DomainUserRoles),
            ("/domains/{domain_id}/users/{user_id}/roles/{role_id}", identity_admin.DomainUserRole),
            ("/users", identity_admin.Users), ("/users/{user_id}", identity_admin.UserItem),
            ("/users/{user_id}/password", identity_admin.UserPassword),
            ("/users/{user_id}/projects", identity_admin.UserProjects),
            ("/users/{user_id}/application_credentials", identity_admin.ApplicationCredentials),
            ("/users/{user_id}/application_credentials/{credential_id}", identity_admin.ApplicationCredentialItem),
            ("/roles", identity_admin.Roles), ("/roles/{role_id}", identity_admin.RoleItem),
            ("/role_assignments", identity_admin.RoleAssignments),
            ("/services", identity_catalog.Services), ("/services/{service_id}", identity_catalog.ServiceItem),
            ("/endpoints", identity_catalog.Endpoints), ("/endpoints/{endpoint_id}", identity_catalog.EndpointItem),
            ("/regions", identity_catalog.Regions), ("/regions/{region_id}", identity_catalog.RegionItem),
            ("/registered_limits", identity_limits.RegisteredLimits),
            ("/registered_limits/{limit_id}", identity_limits.RegisteredLimitItem),
            ("/limits", identity_limits.Limits), ("/limits/model", identity_limits.LimitModel),
            ("/limits/{limit_id}", identity_limits.LimitItem)):
        app.add_route(identity.PREFIX + path, resource(authenticator, public))

    app.add_route("/image", image.Versions(public, 300))
    app.add_route("/image/versions", image.Versions(public, 200))
    app.add_route(f"{image.PREFIX}/images", image.Images(conf, db))
    app.add_route(f"{image.PREFIX}/images/{{image_id}}", image.ImageItem(conf, db))
    app.add_route(f"{image.PREFIX}/images/{{image_id}}/file", image.ImageFile(conf, db))
    app.add_route(f"{image.PREFIX}/images/{{image_id}}/tags/{{tag}}", image.Tag(conf, db))
    app.add_route(f"{image.PREFIX}/images/{{image_id}}/actions/{{action}}", image.Action(conf, db))
    app.add_route(f"{image.PREFIX}/images/{{image_id}}/members", image.Members(conf, db))
    app.add_route(f"{image.PREFIX}/images/{{image_id}}/members/{{member_id}}", image.Member(conf, db))
    app.add_route(f"{image.PREFIX}/schemas/{{name}}", image_schemas.SchemaDocument())

    app.add_route(f"{PREFIX}/os-keypairs", keypairs.KeyPairs(conf, db))
    app.add_route(f"{PREFIX}/os-keypairs/{{name}}", keypairs.KeyPairItem(conf, db))
    app.add_route(f"{PREFIX}/os-quota-sets/{{project_id}}", quotas.QuotaSet(conf, db))
    app.add_route(f"{PREFIX}/os-quota-sets/{{project_id}}/defaults", quotas.QuotaSetDefaults(conf, db))
    app.add_route(f"{PREFIX}/os-quota-sets/{{project_id}}/detail", quotas.QuotaSetDetail(conf, db))
    app.add_route(f"{PREFIX}/os-quota-class-sets/{{class_name}}", quotas.QuotaClassSet(conf, db))
    app.add_route(f"{PREFIX}/limits", quotas.Limits(conf, db))
    app.add_route(f"{PREFIX}/os-server-groups", server_groups.ServerGroups(conf, db))
    app.add_route(f"{PREFIX}/os-server-groups/{{group_id}}", server_groups.ServerGroupItem(conf, db))
    app.add_route(f"{PREFIX}/os-simple-tenant-usage", tenant_usage.TenantUsages(conf, db))
    app.add_route(f"{PREFIX}/os-simple-tenant-usage/{{project_id}}", tenant_usage.TenantUsage(conf, db))
    app.add_route(f"{PREFIX}/os-aggregates", aggregates.Aggregates(conf, db))
    app.add_route(f"{PREFIX}/os-aggregates/{{aggregate_id}}", aggregates.AggregateItem(conf, db))
    app.add_route(f"{PREFIX}/os-aggregates/{{aggregate_id}}/action", aggregates.AggregateAction(conf, db))
    app.add_route(f"{PREFIX}/os-aggregates/{{aggregate_id}}/images", aggregates.AggregateImages(conf, db, transport))
    app.add_route(f"{PREFIX}/os-availability-zone", availability_zones.AvailabilityZones(conf, db))
    app.add_route(f"{PREFIX}/os-availability-zone/detail", availability_zones.AvailabilityZonesDetail(conf, db))
    app.add_route(f"{PREFIX}/os-services", services.Services(conf, db))
    app.add_route(f"{PREFIX}/os-services/{{service_id}}", services.ServiceItem(conf, db))
    app.add_route(f"{PREFIX}/servers/{{server_id}}/diagnostics", server_hardware.ServerDiagnostics(conf, db, transport))
    app.add_route(f"{PREFIX}/servers/{{server_id}}/topology", server_hardware.ServerTopology(conf, db))
    app.add_route(f"{PREFIX}/servers/{{server_id}}/remote-consoles",
                  remote_consoles.RemoteConsoles(conf, db, transport))
    app.add_route(f"{PREFIX}/os-migrations", migrations.Migrations(conf, db))
    app.add_route(f"{PREFIX}/os-instance_usage_audit_log", usage_audit_log.UsageAuditLogs(conf, db))
    app.add_route(f"{PREFIX}/os-instance_usage_audit_log/{{before_timestamp}}", usage_audit_log.UsageAuditLog(conf, db))
    app.add_route(f"{PREFIX}/servers/{{server_id}}/migrations", migrations.ServerMigrations(conf, db, transport))
    app.add_route(f"{PREFIX}/servers/{{server_id}}/migrations/{{migration_id}}",
                  migrations.ServerMigration(conf, db, transport))
    app.add_route(f"{PREFIX}/servers/{{server_id}}/migrations/{{migration_id}}/action",
                  migrations.ServerMigrationAction(conf, db, transport))
    app.add_route(f"{PREFIX}/os-hypervisors", hypervisors.Hypervisors(conf, db, transport))
    app.add_route(f"{PREFIX}/os-hypervisors/detail", hypervisors.HypervisorsDetail(conf, db, transport))
    app.add_route(f"{PREFIX}/os-hypervisors/{{hypervisor_id}}", hypervisors.Hypervisor(conf, db, transport))
    return app
