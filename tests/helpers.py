"""Helpers and assertions the test files share (the fixtures are in conftest.py)."""

from __future__ import annotations


def one(conn, query, params=None):
    """The first column of the first row."""
    return conn.execute(query, params).fetchone()[0]
