"""HTTP clients for external systems (no ORM here)."""
