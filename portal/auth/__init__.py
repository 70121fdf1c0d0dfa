"""People and machines: users and roles, passwords, sessions, bearer tokens."""
