"""Tables of this area (filled in by its issue's work)."""
