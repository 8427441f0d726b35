"""Operator commands (python -m api.admin): people who already exist, personal keys, revocation."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api import admin
from api.auth import hash_key
from erx.settings import Settings
from tests.conftest import WorkspaceKeys

ROOT = Path(__file__).resolve().parents[1]


async def _command(
    capsys: pytest.CaptureFixture[str], settings: Settings, *argv: str
) -> tuple[int, str, str]:
    code = await admin.run(list(argv), settings)
    out, err = capsys.readouterr()
    return code, out, err


async def _status(api: httpx.AsyncClient, ws: str, key: str) -> int:
    resp = await api.get(f"/v1/workspaces/{ws}/members", headers={"Authorization": f"Bearer {key}"})
    return resp.status_code


async def _can_invite(api: httpx.AsyncClient, ws: str, key: str) -> int:
    resp = await api.post(
        f"/v1/workspaces/{ws}/erx/invitations/preview",
        json={"member_ids": ["m_ada"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    return resp.status_code


async def test_add_person_for_an_existing_member_is_one_line_and_exit_1(
    workspace: WorkspaceKeys, database_url: str, engine: AsyncEngine
) -> None:
    """Through the real entry point, as an operator runs it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api.admin",
        "add-person",
        "--workspace",
        workspace.id,
        "--member-id",
        workspace.member_id,
        "--first-name",
        "Ada",
        "--last-name",
        "Lovelace",
        "--email",
        "ada@example.com",
        cwd=ROOT,
        env={**os.environ, "ERX_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert out == b""
    assert err.decode().splitlines() == [
        f"error: member 'm_ada' already exists in workspace '{workspace.id}'; "
        "give them a key with issue-key"
    ]


async def test_issue_key_for_an_existing_member_and_revoke_it(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = workspace.id
    code, member_key, err = await _command(
        capsys, settings, "issue-key", "--workspace", ws, "--member-id", "m_ada"
    )
    assert code == 0, err
    member_key = member_key.strip()
    assert err.startswith("key id ")
    member_key_id = err.split()[2].rstrip(";")
    code, admin_key, err = await _command(
        capsys, settings, "issue-key", "--workspace", ws, "--member-id", "m_admin", "--admin"
    )
    assert code == 0, err
    admin_key = admin_key.strip()

    # The issued keys authenticate with their roles: only the admin key may invite.
    assert await _status(api, ws, member_key) == 200
    assert await _can_invite(api, ws, member_key) == 403
    assert await _can_invite(api, ws, admin_key) == 200

    # Keys are listed by id, role and member, never by the key or its hash.
    code, listing, _ = await _command(capsys, settings, "list-keys", "--workspace", ws)
    assert code == 0
    rows = [line.split("\t") for line in listing.splitlines()]
    assert [(r[1], r[2], r[5]) for r in rows] == [
        ("service", "-", "live"),
        ("admin", "m_admin", "live"),
        ("member", "m_ada", "live"),
        ("member", "m_ada", "live"),
        ("admin", "m_admin", "live"),
    ]
    for secret in (member_key, admin_key, workspace.member, workspace.admin, workspace.service):
        assert secret not in listing and hash_key(secret) not in listing

    # Revoking one key stops it on the next request; the member's other key still works.
    code, out, err = await _command(
        capsys, settings, "revoke-key", "--workspace", ws, "--key-id", member_key_id
    )
    assert (code, out) == (0, f"revoked keys: {member_key_id}\n"), err
    assert await _status(api, ws, member_key) == 401
    assert await _status(api, ws, workspace.member) == 200
    code, out, _ = await _command(
        capsys, settings, "revoke-key", "--workspace", ws, "--key-id", member_key_id
    )
    assert (code, out) == (0, "revoked keys: none (already revoked)\n")

    # Revoking by member stops every key of that person, and no one else's.
    code, _, err = await _command(
        capsys, settings, "revoke-key", "--workspace", ws, "--member-id", "m_admin"
    )
    assert code == 0, err
    assert await _status(api, ws, admin_key) == 401
    assert await _status(api, ws, workspace.admin) == 401
    assert await _status(api, ws, workspace.service) == 200
    code, listing, _ = await _command(
        capsys, settings, "list-keys", "--workspace", ws, "--member-id", "m_admin"
    )
    assert [line.split("\t")[5].split()[0] for line in listing.splitlines()] == ["revoked"] * 2


async def test_refused_key_commands_answer_one_line(
    workspace: WorkspaceKeys,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = workspace.id
    code, out, err = await _command(
        capsys, settings, "issue-key", "--workspace", ws, "--member-id", "m_nobody"
    )
    assert (code, out) == (1, "")
    assert err == f"error: no member 'm_nobody' in workspace '{ws}'; add them with add-person\n"

    code, _, err = await _command(capsys, settings, "list-keys", "--workspace", "ws_nowhere")
    assert (code, err) == (1, "error: no workspace 'ws_nowhere'\n")

    # A key id of another workspace is not this workspace's to revoke.
    code, listing, _ = await _command(capsys, settings, "list-keys", "--workspace", ws)
    some_id = listing.split("\t")[0]
    code, _, err = await _command(
        capsys, settings, "create-workspace", "--id", ws, "--name", "Again"
    )
    assert (code, err) == (1, f"error: workspace '{ws}' already exists\n")
    code, _, err = await _command(
        capsys, settings, "create-workspace", "--id", f"{ws}_b", "--name", "Other"
    )
    assert code == 0
    code, _, err = await _command(
        capsys, settings, "revoke-key", "--workspace", f"{ws}_b", "--key-id", some_id
    )
    assert (code, err) == (1, f"error: no key {some_id} in workspace '{ws}_b'\n")
