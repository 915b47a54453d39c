"""Firmware of the all-in-one call box."""
