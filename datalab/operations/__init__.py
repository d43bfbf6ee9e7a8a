"""The datalab's operations, one module each, and the image pipeline they share."""
