"""Audit events, logs, metrics and the key ring."""
