"""The database router (DATABASE_ROUTERS): the ORM's reads inside `omni.replicas.replica_reads()` go where
`read_alias()` says (the replica when configured, fresh and outside a transaction on the primary); every other read,
every write and every migration go to the primary.

Reads outside `replica_reads()` name the primary explicitly rather than leaving it to Django: an object loaded from
the replica would otherwise take its related reads (and its save()) back to the replica.
"""

from omni.replicas import PRIMARY, REPLICA, read_alias


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str:
        return read_alias()

    def db_for_write(self, model, **hints) -> str:
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # One database and its copy: an object read from the replica may be linked to one from the primary.
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA}:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == PRIMARY
