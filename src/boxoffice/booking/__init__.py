"""Holds, bookings and tickets: the buyer's path from a seat pick to a ticket."""
