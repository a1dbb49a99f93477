"""A workspace's address rules: networks whose submissions are kept aside, as blocked (the block
list) or as the team's own testing (the allow list)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.errors import Conflict, NotFound, ValidationFailed
from leadline.kit.changes import SITES, announce
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import IpRule
from leadline.sites.repository import IpRuleRepository
from leadline.workspaces import service as workspaces

IP_RULE_KINDS = ("block", "allow")


def parse_network(raw: str) -> str:
    """An address or a CIDR network, in its normal form; ValidationFailed otherwise."""
    try:
        return str(ipaddress.ip_network(raw.strip(), strict=False))
    except ValueError:
        raise ValidationFailed(
            f"'{raw}' is not an IP address or network (203.0.113.7, 203.0.113.0/24, 2001:db8::/32)",
            details={"field": "address"},
        ) from None


async def add_ip_rule(
    session: AsyncSession,
    workspace_slug: str,
    address: str,
    kind: str,
    *,
    note: str | None = None,
    actor: Actor,
) -> IpRule:
    """Put an address on the workspace's block or allow list; it may be on one list only."""
    if kind not in IP_RULE_KINDS:
        raise ValidationFailed(f"kind must be block or allow, not {kind!r}")
    workspace = await workspaces.require(session, workspace_slug)
    network = parse_network(address)
    repo = IpRuleRepository(session)
    for rule in await repo.of_workspace(workspace.id):
        if rule.network == network:
            if rule.kind == kind:
                raise Conflict(f"{network} is on the {kind} list already")
            raise Conflict(
                f"{network} is on the {rule.kind} list; remove it from there first"
                " (the block and allow lists are exclusive)"
            )
    rule = IpRule(
        id=new_id("ipr"),
        workspace_id=workspace.id,
        network=network,
        kind=kind,
        note=(note or "").strip()[:200] or None,
        created_at=utcnow(),
    )
    await repo.add(rule)
    announce(session, SITES)
    await audit.record(
        session,
        workspace.id,
        actor,
        f"ip.{kind}ed",
        "ip_rule",
        rule.id,
        {"network": (None, network)},
    )
    return rule


async def remove_ip_rule(
    session: AsyncSession, workspace_slug: str, address: str, *, actor: Actor
) -> IpRule:
    workspace = await workspaces.require(session, workspace_slug)
    network = parse_network(address)
    repo = IpRuleRepository(session)
    for rule in await repo.of_workspace(workspace.id):
        if rule.network == network:
            await repo.remove(rule)
            announce(session, SITES)
            await audit.record(
                session,
                workspace.id,
                actor,
                "ip.removed",
                "ip_rule",
                rule.id,
                {"network": (network, None), "kind": (rule.kind, None)},
            )
            return rule
    raise NotFound(f"{network} is on neither list")


async def list_ip_rules(session: AsyncSession, workspace_slug: str) -> list[IpRule]:
    workspace = await workspaces.require(session, workspace_slug)
    return await IpRuleRepository(session).of_workspace(workspace.id)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AddressRule:
    network: Network
    kind: str


@dataclass(frozen=True, slots=True)
class AddressRules:
    """A workspace's address rules as a capture asks them, each network parsed once, the most
    specific first."""

    rules: tuple[AddressRule, ...] = ()

    @classmethod
    def of(cls, rules: Iterable[IpRule]) -> AddressRules:
        parsed = [AddressRule(ipaddress.ip_network(rule.network), rule.kind) for rule in rules]
        parsed.sort(key=lambda rule: rule.network.prefixlen, reverse=True)
        return cls(tuple(parsed))

    def kind_for(self, ip: str | None) -> str | None:
        """``block`` or ``allow``: the kind of the most specific rule that covers the address;
        None when none does (or there is no address)."""
        if not ip or not self.rules:
            return None
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for rule in self.rules:
            if rule.network.version == address.version and address in rule.network:
                return rule.kind
        return None


async def address_rules(session: AsyncSession, workspace_id: str) -> AddressRules:
    return AddressRules.of(await IpRuleRepository(session).of_workspace(workspace_id))
