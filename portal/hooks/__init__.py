"""The platform hooks (/hooks/v1, design.md section 7): decisions, uploads, call events."""
