"""Flash-sale benchmark: holds and bookings on one big showtime, through HTTP and direct."""
