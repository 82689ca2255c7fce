"""`ncloud check`: the cloud's health for cron and monitoring (checks.py finds, report.py tells)."""
