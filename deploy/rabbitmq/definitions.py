"""Print a RabbitMQ definitions file: one user per service with the permissions of
permissions.json on one virtual host, passwords hashed the way RabbitMQ stores them.

    RABBITMQ_PASSWORD_TICKET_SERVICE=... RABBITMQ_PASSWORD_NOTIFIER=... (one per service) \\
      python3 deploy/rabbitmq/definitions.py --vhost tickets > definitions.json

Load it with `load_definitions = /etc/rabbitmq/definitions.json` (rabbitmq.conf) or
`rabbitmqctl import_definitions definitions.json`; then give each service
`RABBITMQ_URL=amqp://<user>:<password>@<host>:5672/<vhost>`. A broker that loads
definitions at boot creates no default user, so `--admin-user NAME` (password in
RABBITMQ_ADMIN_PASSWORD) adds an administrator for people and the management UI.
Standard library only.
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
from pathlib import Path

PERMISSIONS = Path(__file__).with_name("permissions.json")
MIN_PASSWORD_BYTES = 32


def password_hash(password: str) -> str:
    """rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def user(name: str, password: str, tags: list[str]) -> dict[str, object]:
    return {
        "name": name,
        "password_hash": password_hash(password),
        "hashing_algorithm": "rabbit_password_hashing_sha256",
        "tags": tags,
    }


def definitions(
    vhost: str, prefix: str, passwords: dict[str, str], admin: tuple[str, str] | None = None
) -> dict[str, object]:
    table = json.loads(PERMISSIONS.read_text())["users"]
    users, permissions = [], []
    for service, rights in table.items():
        name = f"{prefix}{service}"
        users.append(user(name, passwords[service], []))
        permissions.append({"user": name, "vhost": vhost, **rights})
    if admin is not None:
        users.append(user(admin[0], admin[1], ["administrator"]))
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        permissions.append({"user": admin[0], "vhost": vhost, **everything})
    return {"users": users, "vhosts": [{"name": vhost}], "permissions": permissions}


def password_from_env(variable: str) -> str:
    value = os.environ.get(variable, "")
    if len(value.encode()) < MIN_PASSWORD_BYTES:
        sys.exit(f"definitions: {variable}: set a password of {MIN_PASSWORD_BYTES}+ bytes")
    return value


def passwords_from_env(services: list[str]) -> dict[str, str]:
    return {s: password_from_env(f"RABBITMQ_PASSWORD_{s.upper()}") for s in services}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vhost", default="tickets")
    parser.add_argument("--user-prefix", default="tickets-", help="user name = prefix + service")
    parser.add_argument("--admin-user", help="also an administrator (RABBITMQ_ADMIN_PASSWORD)")
    parser.add_argument("--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args()
    services = list(json.loads(PERMISSIONS.read_text())["users"])
    admin = None
    if args.admin_user:
        admin = (args.admin_user, password_from_env("RABBITMQ_ADMIN_PASSWORD"))
    document = definitions(args.vhost, args.user_prefix, passwords_from_env(services), admin)
    text = json.dumps(document, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        sys.stderr.write(f"definitions: users of {', '.join(services)} written to {args.output}\n")


if __name__ == "__main__":
    main()
