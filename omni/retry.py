"""Database errors a Celery task may retry: the connection lost or refused (PostgreSQL restarting, a failover), a
serialization failure or a cancelled statement.

Only for tasks whose second run is harmless (a status guard under a row lock, an upsert, WeCom refusing a second
welcome): the task's first run may have committed part of its work before the error. Django closes the broken
connection before the next task (Celery's Django fixup, and CONN_HEALTH_CHECKS), so the retry opens a new one.
"""

from django.db import InterfaceError, OperationalError

DATABASE_DISCONNECTS = (OperationalError, InterfaceError)
