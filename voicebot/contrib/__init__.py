"""Extras that are not part of the service: the demo."""
