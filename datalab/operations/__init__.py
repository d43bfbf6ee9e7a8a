"""The datalab's operations and the image pipeline they share (spec §8)."""
