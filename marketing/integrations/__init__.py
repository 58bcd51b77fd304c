"""HTTP clients of the marketing app's external systems (no ORM here)."""
