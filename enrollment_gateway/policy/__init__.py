"""The policy engine: pure functions from rules and a candidate certificate to a list of violations."""

from .evaluate import Candidate, evaluate, willing_to_issue
from .model import (
    ANY_OTHER_ATTRIBUTE,
    DEFAULT_FORWARD_DATING_SECONDS,
    MAX_DURATION_SECONDS,
    SAN_TYPES,
    SUBJECT_ATTRIBUTES,
    FieldRule,
    PolicyRules,
    format_duration,
    parse_duration,
)
from .patterns import check_pattern, match_dns, match_email, match_glob, match_ip, matches, normalise_dns, overlaps
from .presets import PRESET_DEFAULTS, PRESETS, cabf_tls_rules, claims_cabf_tls, preset, preset_defaults

__all__ = [
    "ANY_OTHER_ATTRIBUTE",
    "DEFAULT_FORWARD_DATING_SECONDS",
    "MAX_DURATION_SECONDS",
    "PRESETS",
    "PRESET_DEFAULTS",
    "SAN_TYPES",
    "SUBJECT_ATTRIBUTES",
    "Candidate",
    "cabf_tls_rules",
    "claims_cabf_tls",
    "FieldRule",
    "PolicyRules",
    "check_pattern",
    "evaluate",
    "format_duration",
    "match_dns",
    "match_email",
    "match_glob",
    "match_ip",
    "matches",
    "normalise_dns",
    "overlaps",
    "parse_duration",
    "preset",
    "preset_defaults",
    "willing_to_issue",
]
