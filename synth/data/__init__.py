"""Bundled example personas (package data)."""
