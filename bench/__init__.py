"""Benchmarks of the archive: a synthetic archive at scale, ingest, queries, downloads; never tests."""
