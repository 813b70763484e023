"""What follows a sweep: promotion, the MD gate, fine-tuning, transfer chains, report data and data sets."""
