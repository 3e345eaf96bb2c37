"""`flask integrations ...`: integration tokens for deployment administrators.

The commands act as the deployment (the audit trail records the actor as "cli"), so the first
PBX token can be issued before anyone has logged in. Each command is one unit of work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask.cli import AppGroup

from cs_register.cli_support import command_context, echo_table
from cs_register.clock import local_time
from cs_register.integrations import services, webhooks
from cs_register.integrations.credentials import Credential, Kind
from cs_register.integrations.models import TokenScope
from cs_register.web import current_keyring

integrations_cli = AppGroup("integrations", help="Manage integration (API) tokens.")


def _end_by_name(kind: Kind[Any], end: Callable[..., Credential], name: str) -> str:
    """Revoke or retire the credential called `name`, in one unit of work; its name."""
    with command_context() as ctx:
        credential = kind.get_by_name(ctx.session, name)
        return str(end(ctx, public_id=credential.public_id).name)


@integrations_cli.command("create-token")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice([scope.value for scope in TokenScope]),
    default=TokenScope.TELEPHONY.value,
    show_default=True,
    help="What the token may reach: telephony (calls and recordings), email (messages to"
    " customer service) or marketing (the prohibition and consent feed).",
)
def create_token_command(name: str, scope: str) -> None:
    """Create a token called NAME and print it (the only time it is shown)."""
    with command_context() as ctx:
        token, raw = services.create_token(ctx, name=name, scope=scope)
    click.echo(f"Created integration token {token.name} ({token.scope.value}).")
    click.echo(f"Token (shown once; configure it as 'Authorization: Bearer <token>'): {raw}")


@integrations_cli.command("list")
def list_command() -> None:
    """List every token: name, scope, prefix, creator, last use and state. Never the token
    itself."""
    with command_context() as ctx:
        overviews = services.list_tokens(ctx)
    rows = []
    for overview in overviews:
        token = overview.token
        last_used = local_time(token.last_used_at) if token.last_used_at else "never"
        state = (
            "active"
            if token.is_active
            else f"revoked {local_time(token.revoked_at)} by {overview.revoked_by}"
        )
        rows.append(
            [
                token.name,
                token.scope.value,
                f"csr_{token.token_prefix}...",
                f"created {local_time(token.created_at)} by {overview.created_by}",
                f"last used {last_used}",
                state,
            ]
        )
    echo_table(rows, empty="No integration tokens.")


@integrations_cli.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke the token called NAME; requests presenting it are refused from now on."""
    click.echo(
        f"Revoked integration token {_end_by_name(services.TOKENS, services.revoke_token, name)}."
    )


@integrations_cli.group("webhook-secret")
def webhook_secret_cli() -> None:
    """Manage the secrets that sign incoming webhooks (the chatbot)."""


@webhook_secret_cli.command("create")
@click.argument("name")
def create_webhook_secret_command(name: str) -> None:
    """Create a webhook secret called NAME and print it (the only time it is shown).

    Existing secrets stay active, so this is also the first step of a rotation.
    """
    keyring = current_keyring()
    with command_context() as ctx:
        secret, raw = webhooks.create_webhook_secret(ctx, keyring, name=name)
    click.echo(f"Created webhook secret {secret.name}.")
    click.echo(f"Secret (shown once; configure it on the chatbot platform): {raw}")


@webhook_secret_cli.command("retire")
@click.argument("name")
def retire_webhook_secret_command(name: str) -> None:
    """Retire the webhook secret called NAME; webhooks signed only with it are refused."""
    retired = _end_by_name(webhooks.SECRETS, webhooks.retire_webhook_secret, name)
    click.echo(f"Retired webhook secret {retired}.")
