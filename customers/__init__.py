"""Customers: the One ID golden record, identities per channel, catalog, stock and orders."""
