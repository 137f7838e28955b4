"""The JSON API for business systems (/api/v1), authenticated with per-system API keys."""
