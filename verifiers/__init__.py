"""Verifiable-constraint and answer checkers, used as RLVR rewards and data filters."""
