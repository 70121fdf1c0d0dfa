"""The supervisor portal: web pages, the JSON API /api/v1 and the audio stream (design.md 7)."""
