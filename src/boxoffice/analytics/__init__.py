"""Reporting over bookings, inventory and the catalog (seed 001 analytics, seed 004 stats)."""
