"""Any daemon validates Identity tokens itself: the key repository and the database are all it
needs, with no request to an Identity server (the console proxy and the metadata service will
use the same core/identity module)."""

from __future__ import annotations

import subprocess
import sys

from ncloud.daemons.core.identity.auth import Authenticator
from tests.cloud import ADMIN_PASSWORD, identity_state

VALIDATE = """
import sys
from ncloud.daemons.core import config
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.identity.auth import Authenticator, Unauthorized
conf = config.load(None, environ={"NCLOUD_DEFAULT__STATE_PATH": sys.argv[1]})
try:
    identity = Authenticator(conf, Database(conf.database_url)).validate(sys.argv[2])
    print("valid", identity.user.name, identity.project.name, ",".join(identity.role_names))
except Unauthorized as error:
    print("refused", error)
"""


def validate_elsewhere(state, token: str) -> str:
    """Validation in another process that shares only the state directory (keys and database)."""
    result = subprocess.run([sys.executable, "-c", VALIDATE, str(state), token], capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_another_process_validates_a_token_with_the_keys_and_sees_its_revocation(tmp_path):
    conf, db = identity_state(tmp_path)
    auth = Authenticator(conf, db)
    text, identity = auth.authenticate({"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}})
    assert validate_elsewhere(tmp_path, text) == "valid admin admin admin"
    assert validate_elsewhere(tmp_path, text[:-4] + "AAAA").startswith("refused")  # tampered
    auth.revoke(identity)
    assert validate_elsewhere(tmp_path, text) == "refused The token has been revoked."
    db.dispose()
