"""Certificate enrollment gateway: one policy-checked core behind ACME, EST, SCEP and a JSON API."""

__version__ = "0.1.0"
