"""The one layer between the `ncloud` command and a cloud's APIs: which cloud and credentials
(config.py), the token cache (tokens.py), requests, endpoints and microversions (session.py),
and the errors every command reports the same way (errors.py)."""

import sys

# httpx imports its own command-line tool (click, rich, pygments: ~80 ms of a command's start)
# whenever click is installed; ncloud never runs it. A None entry makes that import fail fast,
# as it does without click.
sys.modules.setdefault("httpx._main", None)
