"""Settings modules: ``base`` (from the environment), ``production`` (hardened), ``test``."""
