"""Protocol front ends (ACME, EST, SCEP, API): translators between wire messages and the core."""
