"""Who may do what: viewer, editor, admin, resolved from OS users and groups.

Identity comes from the process's real uid (``pwd``), never from ``$USER`` or ``$LOGNAME``, which any
user can set. The user who created the data dir is always admin; everyone else gets the role the
``roles.*`` settings give their user name or one of their groups, else ``roles.default``.

Roles guard against mistakes and make every denied attempt visible in the audit trail. They are not
a boundary against someone who can write the data dir's files directly: OS permissions are. The
audit chain is what shows such edits afterwards.
"""

from __future__ import annotations

import enum
import grp
import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import InvalidInput


class Role(enum.IntEnum):
    NONE = 0
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            role = cls[str(text).strip().upper()]
        except KeyError:
            raise InvalidInput(f"unknown role {text!r}; use viewer, editor or admin") from None
        if role is Role.NONE:
            raise InvalidInput("role 'none' cannot be granted; revoke the user instead")
        return role


@dataclass(frozen=True)
class Identity:
    """The person acting: OS user, their groups, and the SSH client address if any."""

    user: str
    groups: tuple[str, ...] = ()
    address: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.user}@{self.address}" if self.address else self.user


def current_identity() -> Identity:
    """This process's user (by real uid), its groups, and ``SSH_CONNECTION``'s client address."""
    uid = os.getuid()
    try:
        entry = pwd.getpwuid(uid)
        user, gid = entry.pw_name, entry.pw_gid
    except KeyError:
        user, gid = f"uid:{uid}", os.getgid()
    names = []
    for g in dict.fromkeys([gid, *os.getgroups()]):
        try:
            names.append(grp.getgrgid(g).gr_name)
        except KeyError:
            names.append(f"gid:{g}")
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    return Identity(user, tuple(names), ssh[0] if ssh else None)


# The least role each permission needs. Action names match audit event actions where one exists.
REQUIRED: dict[str, Role] = {
    "memory.read": Role.VIEWER,
    "memory.search": Role.VIEWER,
    "audit.read": Role.VIEWER,
    "audit.verify": Role.VIEWER,
    "audit.export": Role.VIEWER,
    "backup.list": Role.VIEWER,
    "episode.feedback": Role.VIEWER,
    "memory.put": Role.EDITOR,
    "backup.create": Role.EDITOR,
    "backup.verify": Role.EDITOR,
    "memory.delete": Role.EDITOR,
    "memory.quarantine": Role.EDITOR,
    "memory.restore": Role.EDITOR,
    "memory.ingest": Role.EDITOR,
    "demo.load": Role.EDITOR,
    "sync.check": Role.EDITOR,
    "heartbeat.run": Role.EDITOR,
    "episode.import": Role.EDITOR,
    "model.load": Role.EDITOR,
    "trust.recompute": Role.EDITOR,
    "trust.review": Role.EDITOR,
    "contradiction.resolve": Role.EDITOR,
    "trust.retrain": Role.ADMIN,
    "train.run": Role.EDITOR,
    "train.validate": Role.EDITOR,
    "train.canary": Role.EDITOR,
    "train.rollback": Role.ADMIN,
    "memory.purge": Role.ADMIN,
    "sync.repair": Role.ADMIN,
    "index.rebuild": Role.ADMIN,
    "config.set": Role.ADMIN,
    "role.grant": Role.ADMIN,
    "role.revoke": Role.ADMIN,
    "audit.export_unredacted": Role.ADMIN,
    "audit.archive": Role.ADMIN,
    "approval.approve": Role.ADMIN,
    "approval.reject": Role.ADMIN,
    "backup.prune": Role.ADMIN,
    "backup.restore": Role.ADMIN,
}

PURPOSE: dict[str, str] = {
    "memory.read": "reading memory", "memory.search": "searching memory", "audit.read": "reading the audit log",
    "audit.verify": "verifying the audit chain", "audit.export": "exporting the audit log",
    "memory.put": "writing memory", "memory.delete": "deleting memory", "memory.quarantine": "quarantining memory",
    "memory.restore": "restoring quarantined memory", "memory.ingest": "ingesting files",
    "demo.load": "loading the demo corpus", "sync.check": "running drift checks",
    "heartbeat.run": "running a heartbeat", "memory.purge": "purging memory for good",
    "sync.repair": "repairing the index", "index.rebuild": "rebuilding the index",
    "config.set": "changing config", "role.grant": "granting roles", "role.revoke": "revoking roles",
    "audit.export_unredacted": "exporting the audit log unredacted", "audit.archive": "archiving audit events",
    "approval.approve": "approving requests", "approval.reject": "rejecting requests",
    "backup.list": "listing backups", "backup.create": "making backups", "backup.verify": "verifying backups",
    "backup.prune": "pruning backups", "backup.restore": "restoring a backup",
    "trust.recompute": "recomputing trust", "trust.review": "reviewing memory",
    "contradiction.resolve": "resolving contradictions", "trust.retrain": "retraining the trust model",
    "train.run": "running a training run", "train.validate": "validating the model",
    "train.canary": "running the canary suite", "train.rollback": "rolling back a trained adapter",
}

ROLE_KEYS = {Role.ADMIN: "roles.admin", Role.EDITOR: "roles.editor", Role.VIEWER: "roles.viewer"}


def split_names(value: str) -> list[str]:
    """``"alice, bob,@ops"`` -> ``["alice", "bob", "@ops"]`` (``@`` marks a group)."""
    return [v.strip() for v in str(value).split(",") if v.strip()]


def join_names(names: Iterable[str]) -> str:
    return ",".join(dict.fromkeys(names))


def resolve_role(identity: Identity, mapping: dict[Role, list[str]], creator: str | None, default: str) -> Role:
    """Highest role any of the identity's names maps to; the data dir's creator is always admin."""
    if creator and identity.user == creator:
        return Role.ADMIN
    mine = {identity.user, *(f"@{g}" for g in identity.groups)}
    for role in (Role.ADMIN, Role.EDITOR, Role.VIEWER):
        if mine & set(mapping.get(role, [])):
            return role
    return Role.VIEWER if default == "viewer" else Role.NONE


def validate_principal(name: str) -> str:
    """A user name, or ``@group``; no commas or spaces (the settings are comma-separated)."""
    text = str(name).strip()
    bare = text[1:] if text.startswith("@") else text
    if not bare or any(c in bare for c in ", \t\n@") or len(bare) > 64:
        raise InvalidInput(f"{name!r} is not a user or @group name")
    return text
