"""Pure revocation building blocks: CRLs (RFC 5280 §5) and OCSP (RFC 6960, RFC 5019), no I/O."""
