"""The core: decides, signs, stores and audits. Knows nothing of HTTP; every protocol calls in here."""
