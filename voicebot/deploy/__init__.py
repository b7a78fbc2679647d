"""Configurations generated for what runs in front of the workers (Kamailio)."""
