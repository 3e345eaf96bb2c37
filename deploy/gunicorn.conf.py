"""gunicorn settings for a web host: `gunicorn -c deploy/gunicorn.conf.py 'app:create_app()'`.

Each value can be overridden from the environment named beside it, so one file serves every
host; see docs/deployment.md for the layout these numbers assume.
"""

import multiprocessing
import os

# Behind the load balancer (which terminates TLS) on a private address.
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Sync workers: every request is one unit of work on one database connection, and a long
# recording upload streams to storage without blocking the others' processes.
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 9)))
worker_class = "sync"
# A two-hour call (about 115 MB of G.711) must finish uploading over a slow PBX link.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, staggered, so a slow leak can never grow without bound.
max_requests = 2000
max_requests_jitter = 200
# gunicorn itself believes X-Forwarded-Proto only from these addresses. The client's address
# (which the login throttle counts by) comes from X-Forwarded-For through the app's
# PROXY_HOPS setting, which trusts exactly that many proxies and no header beyond them.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
limit_request_fields = 100
# Access lines to stdout for the host's log collector. Our URLs carry random ids only.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%({x-request-id}i)s"'
# Load the app once in the master, so a broken configuration stops start-up instead of
# making every worker crash in turn.
preload_app = True
