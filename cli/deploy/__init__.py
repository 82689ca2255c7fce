"""The operator toolkit: `ncloud deploy` and the day-two commands drive the playbooks and roles of
this repository through ansible-runner (runner.py), render the run live (display.py), build the
wheels the hosts install (wheelhouse.py) and keep the deployment's secrets (passwords.py)."""
