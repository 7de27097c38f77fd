"""Editing methods, one module each, found through the registry."""
