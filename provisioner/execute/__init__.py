"""Carries a plan out against the server and produces a report (the shell around plan/)."""
