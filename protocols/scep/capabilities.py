"""GetCACaps (RFC 8894 §3.5.2): what this server does, one keyword per line, as text/plain.

`Renewal` makes Apple clients offer RenewalReq; `SCEPStandard` promises AES, SHA-256 and POSTPKIOperation.
DES3 stays listed for older network gear, and DES-CBC requests are opened although it is not advertised
(micromdm's scepclient sends it whatever the list says). GetNextCACert waits for CA rollover.
"""

from __future__ import annotations

CAPABILITIES = ("AES", "DES3", "SHA-1", "SHA-256", "SHA-512", "POSTPKIOperation", "Renewal", "SCEPStandard")


def ca_caps() -> str:
    return "\n".join(CAPABILITIES) + "\n"
