"""Helpers shared by the tests: data paths, command runners, services, a tiny sweep."""
