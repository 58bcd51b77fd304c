"""PostgreSQL backend that starts or attaches the embedded server on first connection.

Settings name this backend only when DATABASE_URL is unset, so nothing is started at import time
and `embedded_db status|stop` never starts a server. Once the socket directory is known, connecting
costs nothing extra; only a failed connection checks the server again (it may have been stopped).
"""

from django.db import OperationalError
from django.db.backends.postgresql import base as postgresql

from ptd import embedded_db


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def get_connection_params(self):
        if not self.settings_dict.get("HOST"):
            self._attach_embedded()
        return super().get_connection_params()

    def get_new_connection(self, conn_params):
        try:
            return super().get_new_connection(conn_params)
        except OperationalError:
            self._attach_embedded()  # restarts it when it was stopped; same socket directory
            return super().get_new_connection(self.get_connection_params())

    def _attach_embedded(self):
        conn = embedded_db.ensure_running()
        self.settings_dict.update(HOST=conn.host, PORT=conn.port, USER=conn.user)
