"""Bundled prompt templates (package data)."""
