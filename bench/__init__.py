"""Benchmarks and the bundled demo: corpus generator, quality and speed measurements."""
