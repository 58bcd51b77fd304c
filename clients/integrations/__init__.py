"""HTTP clients of the clients app's external systems (no ORM here)."""
