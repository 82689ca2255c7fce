"""The end-user commands, one module per OpenStack noun (`ncloud server`, `ncloud flavor`, ...),
with the `openstack` client's nouns, verbs and options so that habits carry over. Each module is
thin: it builds a request, calls the session (cli/cloud) and prints with cli/output.py."""
