"""Helpers over Relax IR that several passes share (not passes themselves)."""
