"""callvault composition root: settings, CLI and wiring."""
