"""Import every model module so `Base.metadata` knows all tables (create_all, migrations)."""

from cs_register.models import ALL_MODEL_MODULES  # noqa: F401
