"""The process: errors, console logging, interrupts, output files and the environment record."""
