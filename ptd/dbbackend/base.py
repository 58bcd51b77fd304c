"""PostgreSQL backend that starts or attaches the embedded server on first connection.

Settings name this backend only when DATABASE_URL is unset, so nothing is started at import time
and `embedded_db status|stop` never starts a server.
"""

from django.db.backends.postgresql import base as postgresql

from ptd import embedded_db


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def get_connection_params(self):
        conn = embedded_db.ensure_running()
        self.settings_dict.update(HOST=conn.host, PORT=conn.port, USER=conn.user)
        return super().get_connection_params()
