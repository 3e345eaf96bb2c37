"""A hand-written chatbot webhook handler: the ceiling for `webhook_throughput.py --with-raw`.

Not the product. It checks the same Standard Webhooks signature, parses the same JSON and
writes the same four rows (contact, conversation, delivery record, audit row) into the
deployment's SQLite database, in one `BEGIN IMMEDIATE` transaction, with the `sqlite3` module
directly: no ORM, no SQLAlchemy Core, no field validation beyond what the SQL needs, no
request hooks and no log line. What it reaches on a machine shows how much of the gap to a
bare endpoint is the work itself (one durable commit per delivery) rather than our code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, request

RAW_PATH = "/raw/chatbot"


def create_raw_app(database_path: str, secret: str, synchronous: str = "FULL") -> Flask:
    """The raw handler on `database_path`; `synchronous` is SQLite's PRAGMA (FULL/NORMAL)."""
    raw_app = Flask("raw")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    connections: list[sqlite3.Connection] = []  # one per worker process, opened lazily

    def connection() -> sqlite3.Connection:
        if not connections:
            opened = sqlite3.connect(database_path, isolation_level=None, timeout=30)
            opened.execute("PRAGMA journal_mode=WAL")
            opened.execute(f"PRAGMA synchronous={synchronous}")
            connections.append(opened)
        return connections[0]

    @raw_app.post(RAW_PATH)
    def webhook() -> Any:
        body = request.get_data()
        webhook_id = request.headers["webhook-id"]
        signed = f"{webhook_id}.{request.headers['webhook-timestamp']}.".encode() + body
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        presented = base64.b64decode(request.headers["webhook-signature"].split(",", 1)[1])
        if not hmac.compare_digest(expected, presented):
            return jsonify({"error": "signature"}), 401
        payload = json.loads(body)
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        contact_public_id = str(uuid.uuid4())
        notes = "\n".join(f"{t['speaker']}: {t['text']}" for t in payload["transcript"])
        answer = {"contact_id": contact_public_id, "linked": False, "handover": False}
        db = connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "SELECT id FROM customers WHERE email = ? LIMIT 2",
                (payload["customer"]["email"],),
            ).fetchall()
            contact_id = db.execute(
                "INSERT INTO contacts (public_id, channel, direction, occurred_at, subject,"
                " notes, created_at) VALUES (?, 'chatbot', 'inbound', ?, ?, ?, ?) RETURNING id",
                (contact_public_id, now, "Chatbot conversation (fi)", notes, now),
            ).fetchone()[0]
            db.execute(
                "INSERT INTO chatbot_conversations (conversation_id, contact_id, language,"
                " started_at, ended_at, received_at, needs_handover) VALUES (?, ?, ?, ?, ?, ?, 0)",
                (payload["conversation_id"], contact_id, "fi", now, now, now),
            )
            db.execute(
                "INSERT INTO webhook_deliveries (webhook_id, received_at, contact_id,"
                " status_code, response) VALUES (?, ?, ?, 201, ?)",
                (webhook_id, now, contact_id, json.dumps(answer)),
            )
            db.execute(
                "INSERT INTO audit_events (occurred_at, actor_label, action, subject_type,"
                " subject_id, details) VALUES (?, 'integration:chatbot',"
                " 'chatbot_contact_received', 'contact', ?, ?)",
                (now, contact_public_id, json.dumps({"contact": contact_public_id})),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return jsonify(answer), 201

    return raw_app
