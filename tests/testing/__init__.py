"""Tests for realtime_client (a package, so modules import shared helpers by name)."""
