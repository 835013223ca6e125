"""Evaluating a candidate certificate against policy rules: values in, every violation out.

Like Boulder's `policy/pa.go`, this collects *all* violations instead of stopping at the first, because ACME
returns them as subproblems and the API lists them; a requester fixes everything in one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Protocol

from ..errors import ErrorKind, Violation
from .model import ANY_OTHER_ATTRIBUTE, SAN_TYPES, FieldRule, PolicyRules, format_duration
from .patterns import matches, overlaps

__all__ = ["Candidate", "evaluate", "willing_to_issue"]


@dataclass(frozen=True)
class Candidate:
    """The certificate a request would produce, reduced to what policy looks at."""

    subject: tuple[tuple[str, str], ...]  # (attribute short name, value), order preserved, repeats allowed
    sans: tuple[tuple[str, str], ...]  # (type, value) with type in DNS/IP/email/URI
    key_algorithm: str  # a KeyAlgorithm value, or e.g. "RSA_1024" / "DSA" for unsupported keys
    signature_algorithm: str | None  # the issued certificate's, a SignatureAlgorithm value
    key_usages: tuple[str, ...]
    extended_key_usages: tuple[str, ...]
    ttl_seconds: int
    forward_dating_seconds: int = 0  # how far the requested notBefore lies ahead of now (0: not ahead)


def evaluate(rules: PolicyRules, candidate: Candidate) -> tuple[Violation, ...]:
    """Every way `candidate` breaks `rules`; empty when the policy is willing to issue it.

    Order: for subject then SANs, all deny violations, then all require violations, then all allow violations;
    then the subject CN against the SANs, key algorithm, signature algorithm, key usages, extended key usages, TTL
    and forward dating. A value refused by `deny`
    is not reported again by `allow`. SAN violations about one value are REJECTED_IDENTIFIER with its
    identifier; key algorithm ones BAD_PUBLIC_KEY; everything else (including a missing SAN) POLICY_VIOLATION.
    """
    subject = _Fields(rules.subject, candidate.subject, _Subject())
    sans = _Fields(rules.san, candidate.sans, _San())
    out: list[Violation] = []
    for phase in ("deny", "require", "allow"):
        out.extend(subject.check(phase))
        out.extend(sans.check(phase))
    out.extend(_checks(rules, candidate))
    return tuple(out)


def willing_to_issue(rules: PolicyRules, candidate: Candidate) -> bool:
    """Whether the policy allows `candidate` as it stands."""
    return not evaluate(rules, candidate)


def _checks(rules: PolicyRules, c: Candidate) -> Iterator[Violation]:
    if rules.common_name_in_sans:
        names = {v for t, v in c.sans if t in ("DNS", "IP")}
        for attribute, value in dict.fromkeys(c.subject):
            if attribute == "CN" and value not in names:
                # BR §7.1.2.7.2: byte for byte; the core has already written a CN that names a SAN as that SAN.
                yield Violation(f"Subject CN {value} is not one of the certificate's DNS or IP SANs")
    if rules.key_algorithms is not None and c.key_algorithm not in {a.value for a in rules.key_algorithms}:
        yield Violation(f"Key algorithm {c.key_algorithm} is not allowed by policy", ErrorKind.BAD_PUBLIC_KEY)
    if (
        rules.signature_algorithms is not None
        and c.signature_algorithm is not None
        and c.signature_algorithm not in {a.value for a in rules.signature_algorithms}
    ):
        yield Violation(f"Signature algorithm {c.signature_algorithm} is not allowed by policy")
    yield from _whitelist(rules.key_usages, c.key_usages, "Key usage {} is not allowed by policy")
    yield from _whitelist(
        rules.extended_key_usages, c.extended_key_usages, "Extended key usage {} is not allowed by policy"
    )
    if rules.max_ttl_seconds is not None and c.ttl_seconds > rules.max_ttl_seconds:
        yield Violation(
            f"Requested TTL {format_duration(c.ttl_seconds)} exceeds the policy maximum "
            f"{format_duration(rules.max_ttl_seconds)}"
        )
    if c.forward_dating_seconds > rules.forward_dating_seconds:
        yield Violation(
            f"Requested notBefore lies {format_duration(c.forward_dating_seconds)} ahead; the policy allows at most "
            f"{format_duration(rules.forward_dating_seconds)}"
        )


def _whitelist(allowed: tuple[str, ...] | None, values: Iterable[str], message: str) -> Iterator[Violation]:
    if allowed is None:
        return
    for value in dict.fromkeys(values):  # once per distinct value, in request order
        if value not in allowed:
            yield Violation(message.format(value))


class _Style(Protocol):
    """How one side (subject or SANs) finds its rule and words its violations."""

    def rule_for(self, rules: Mapping[str, FieldRule], name: str) -> FieldRule | None: ...
    def refused(self, name: str, value: str, how: str) -> Violation: ...
    def missing(self, name: str) -> Violation: ...
    def unmatched(self, name: str, pattern: str) -> Violation: ...


class _Subject:
    """How subject attribute violations read; attributes are not identifiers in the ACME sense."""

    def rule_for(self, rules: Mapping[str, FieldRule], name: str) -> FieldRule | None:
        return rules.get(name, rules.get(ANY_OTHER_ATTRIBUTE))

    def refused(self, name: str, value: str, how: str) -> Violation:
        return Violation(f"Attribute {name}={value} is {how} by policy")

    def missing(self, name: str) -> Violation:
        return Violation(f"Missing required attribute {name}")

    def unmatched(self, name: str, pattern: str) -> Violation:
        return Violation(f"No attribute matches the required pattern {name}={pattern}")


class _San:
    """How SAN violations read; a refused SAN value is a rejected identifier (RFC 8555 §6.7)."""

    def rule_for(self, rules: Mapping[str, FieldRule], name: str) -> FieldRule | None:
        if name not in SAN_TYPES:
            # otherName, registeredID, ...: the policy language cannot describe them, so none is allowed.
            return FieldRule(allow=())
        return rules.get(name)

    def refused(self, name: str, value: str, how: str) -> Violation:
        return Violation(f"SAN {name}:{value} is {how} by policy", ErrorKind.REJECTED_IDENTIFIER, (name, value))

    def missing(self, name: str) -> Violation:
        return Violation(f"Missing required SAN of type {name}")

    def unmatched(self, name: str, pattern: str) -> Violation:
        return Violation(f"No SAN matches the required pattern {name}:{pattern}")


class _Fields:
    """The values of one side (subject or SANs) grouped by name, checked against that side's rules."""

    def __init__(self, rules: Mapping[str, FieldRule], values: Iterable[tuple[str, str]], style: _Style) -> None:
        self.rules = rules
        self.values = tuple(dict.fromkeys(values))  # a repeated value is one violation, not several
        self.style = style
        self.denied = {(n, v) for n, v in self.values if self._denies(n, v)}

    def _denies(self, name: str, value: str) -> bool:
        rule = self.style.rule_for(self.rules, name)
        return rule is not None and any(overlaps(name, p, value) for p in rule.deny)

    def check(self, phase: str) -> Iterator[Violation]:
        return {"deny": self._deny, "require": self._require, "allow": self._allow}[phase]()

    def _deny(self) -> Iterator[Violation]:
        for name, value in self.values:
            if (name, value) in self.denied:
                yield self.style.refused(name, value, "denied")

    def _require(self) -> Iterator[Violation]:
        for name, rule in self.rules.items():
            if rule.require is None or name == ANY_OTHER_ATTRIBUTE:
                continue
            present = [v for n, v in self.values if n == name]
            if not present:
                # One clear message beats one per pattern when the requester sent nothing of this kind.
                yield self.style.missing(name)
                continue
            for pattern in rule.require:
                if not any(matches(name, pattern, v) for v in present):
                    yield self.style.unmatched(name, pattern)

    def _allow(self) -> Iterator[Violation]:
        for name, value in self.values:
            if (name, value) in self.denied:
                continue
            rule = self.style.rule_for(self.rules, name)
            if rule is None or rule.allow is None:
                continue
            if not any(matches(name, p, value) for p in rule.allow):
                yield self.style.refused(name, value, "not allowed")

