"""Published PIE-Bench tables, installed as ``piebench.paper`` (see ``piebench.resources``)."""
