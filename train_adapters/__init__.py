"""Thin adapters from Caravan datasets to TRL trainers."""
