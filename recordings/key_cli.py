"""`flask keys ...`: master key versions and their rotation (`recordings.key_rotation`).

- `rotate [--now]`: moves everything encrypted under older key versions to the newest one.
  When everything already is under the newest, a new version is needed first: in development
  the command creates it (`instance/keys/data_encryption_key.v<N>`, mode 0600); in production
  keys come from the environment or a secret store, so it refuses and says how to add one.
  A rotation left part-way is resumed, never started twice. Without `--now` a worker runs it
  (`jobs.keys`); with `--now` this process does, one committed batch at a time.
- `status`: per key version, how many identity codes, corrections, secrets and recordings are
  under it; the latest rotation's phase and progress.
- `retire VERSION`: records (audited) that VERSION is no longer used, refusing while anything
  is under it. The key itself is then removed from the environment or the key folder.

Output carries versions, counts and the rotation's public id only, never key material.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from cs_register import tasks
from cs_register.cli_support import command_context, echo_table
from cs_register.config import KEY_VERSION_FILE, Settings, later_key_versions, write_key_version
from cs_register.crypto import Keyring
from cs_register.db import get_database
from cs_register.web import current_keyring, current_settings
from cs_register.web import now as app_now
from recordings import key_rotation
from recordings.sealing import SealedStorage
from recordings.storage import RecordingStorage
from recordings.web import current_storage

keys_cli = AppGroup("keys", help="Master key versions: rotate, status, retire.")

KINDS = ("identity codes", "revision values", "authenticator secrets", "webhook secrets")


def production_instructions(next_version: int) -> str:
    """What an operator does to add a key version where keys come from the environment."""
    return (
        f"Everything is under the newest key version already. In production keys come from"
        f" the environment or your secret store, so this command does not create them. To"
        f" rotate: generate a key (python -c 'from cs_register.config import generate_key;"
        f" print(generate_key())' or your secret store), append"
        f" ',{next_version}:<that key>' to DATA_ENCRYPTION_KEYS in the environment of every"
        f" process (web, workers, scheduler), restart them all, then run `flask keys rotate`"
        f" again. Keep the older versions configured until `flask keys retire` accepts them."
    )


def keyring_with_new_files(settings: Settings) -> Keyring:
    """The deployment's keyring re-read with the key folder's files, so a version this command
    has just created is included (the app's keyring was built before it existed)."""
    versions = dict(settings.later_key_versions)
    versions.update(later_key_versions({}, settings.instance_path))
    return Keyring(
        encryption_key=settings.data_encryption_key,
        index_key=settings.blind_index_key,
        later_versions=versions,
    )


def storage_for(keyring: Keyring) -> RecordingStorage:
    """The app's recording storage, sealing under `keyring`'s versions."""
    storage = current_storage()
    if isinstance(storage, SealedStorage):
        return SealedStorage(
            storage.inner,
            keyring.audio,
            read_plaintext=storage.read_plaintext,
            seal_new=storage.seal_new,
        )
    return storage


@keys_cli.command("rotate")
@click.option("--now", "run_now", is_flag=True, help="Run the rotation in this process.")
def rotate_command(run_now: bool) -> None:
    """Move everything to the newest key version, adding one first when needed (development)."""
    settings = current_settings()
    keyring = current_keyring()
    with command_context() as ctx:
        resumable = key_rotation.unfinished_rotations(ctx.session, keyring.current_version)
        needed = bool(resumable) or bool(key_rotation.older_versions_in_use(ctx.session, keyring))
    if not needed:
        version = keyring.current_version + 1
        if settings.is_production:
            raise click.ClickException(production_instructions(version))
        try:
            write_key_version(settings.instance_path, version)
        except FileExistsError:
            raise click.ClickException(
                f"keys/{KEY_VERSION_FILE.format(version)} exists but is not configured;"
                " check the instance's key folder"
            ) from None
        keyring = keyring_with_new_files(settings)
        click.echo(
            f"Created key version {version} (keys/{KEY_VERSION_FILE.format(version)}, mode"
            " 0600). Restart the web app and workers: they read key versions when they start."
        )
    with command_context() as ctx:
        resumable = key_rotation.unfinished_rotations(ctx.session, keyring.current_version)
        if resumable:
            public_id = resumable[0]
            click.echo(f"Resuming rotation {public_id} to key version {keyring.current_version}.")
        else:
            public_id = key_rotation.start_rotation(ctx, keyring).public_id
            click.echo(f"Started rotation {public_id} to key version {keyring.current_version}.")
    if run_now:
        finished = key_rotation.run_rotation(
            get_database(current_app),
            keyring,
            storage_for(keyring),
            public_id,
            clock=app_now,
        )
        if finished is None:  # rotations are never deleted; this would be a bug
            raise click.ClickException(f"rotation {public_id} disappeared")
        click.echo(
            f"Rotation {public_id} finished: {finished.rows_done} values and"
            f" {finished.objects_done} recording objects re-encrypted."
        )
    elif tasks.submit(tasks.ROTATE_KEYS, public_id):
        click.echo("A worker runs it; follow it with `flask keys status`.")
    else:
        click.echo(
            "No job queue is reachable: the periodic run resumes it, or run"
            " `flask keys rotate --now`."
        )


def _count(counts: dict[int | None, int], version: int | None) -> str:
    return str(counts.get(version, 0))


@keys_cli.command("status")
def status_command() -> None:
    """What each key version encrypts, and the latest rotation's progress."""
    keyring = current_keyring()
    with command_context() as ctx:
        usage = key_rotation.usage(ctx.session)
        rotation = key_rotation.latest_rotation(ctx.session)
        progress = key_rotation.phase_progress(ctx.session, rotation) if rotation else None
    versions: set[int | None] = set(keyring.versions)
    for counts in usage.values():
        versions.update(version for version, count in counts.items() if count)
    rows = [["version", *KINDS, "recordings"]]
    for version in sorted(versions, key=lambda v: -1 if v is None else v):
        if version is None:
            label = "plaintext"
        elif version == keyring.current_version:
            label = f"{version} (current)"
        elif version not in keyring.versions:
            label = f"{version} (not configured)"
        else:
            label = str(version)
        rows.append(
            [label, *(_count(usage[kind], version) for kind in KINDS)]
            + [_count(usage["recordings"], version)]
        )
    echo_table(rows, empty="")
    if rotation is None or progress is None:
        click.echo("No rotation has been started.")
        return
    if rotation.finished_at is not None:
        click.echo(
            f"Rotation {rotation.public_id} to version {rotation.target_version}: finished"
            f" ({rotation.rows_done} values, {rotation.objects_done} recording objects)."
        )
        return
    number = key_rotation.PHASES.index(key_rotation.Phase(rotation.phase)) + 1
    done, total = progress
    click.echo(
        f"Rotation {rotation.public_id} to version {rotation.target_version}: phase {number}/"
        f"{len(key_rotation.PHASES) - 1} {rotation.phase}, {done}/{total} rows;"
        f" {rotation.rows_done} values and {rotation.objects_done} recording objects so far."
    )


@keys_cli.command("retire")
@click.argument("version", type=int)
def retire_command(version: int) -> None:
    """Record that key VERSION is no longer used (refused while anything is under it)."""
    with command_context() as ctx:
        key_rotation.retire_version(ctx, current_keyring(), version)
    if version == 1:
        # Version 1 is DATA_ENCRYPTION_KEY / BLIND_INDEX_KEY, which every process requires.
        click.echo("Key version 1 is retired: nothing is encrypted under it any more.")
    else:
        click.echo(
            f"Key version {version} is retired: remove it from DATA_ENCRYPTION_KEYS or the key"
            " folder, and restart."
        )
