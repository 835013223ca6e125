"""X.509 building blocks over pyca/cryptography: keys, CSRs, certificate and CRL building, signers, key wrapping."""
