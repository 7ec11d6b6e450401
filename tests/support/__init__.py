"""Servers the tests run against (moto's Secrets Manager, ...)."""
