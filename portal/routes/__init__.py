"""HTTP routes: thin, they parse, authorise (portal.access) and call the domain services."""
