"""Test support that starts real services (a throwaway PostgreSQL cluster)."""
