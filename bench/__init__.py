"""Benchmarks of the archive (issue 8): a synthetic archive at scale, ingest, queries, downloads; never tests."""
