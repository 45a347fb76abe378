"""Print a RabbitMQ definitions file: one user per service with the permissions of
permissions.json on one virtual host, passwords hashed the way RabbitMQ stores them.

    RABBITMQ_PASSWORD_TICKET_SERVICE=... RABBITMQ_PASSWORD_NOTIFIER=... (one per service) \\
      python3 deploy/rabbitmq/definitions.py --vhost tickets > definitions.json

Load it with `load_definitions = /etc/rabbitmq/definitions.json` (rabbitmq.conf) or
`rabbitmqctl import_definitions definitions.json`; then give each service
`RABBITMQ_URL=amqp://<user>:<password>@<host>:5672/<vhost>`. Standard library only.
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


def definitions(vhost: str, prefix: str, passwords: dict[str, str]) -> dict[str, object]:
    table = json.loads(PERMISSIONS.read_text())["users"]
    users, permissions = [], []
    for service, rights in table.items():
        name = f"{prefix}{service}"
        users.append(
            {
                "name": name,
                "password_hash": password_hash(passwords[service]),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
        )
        permissions.append({"user": name, "vhost": vhost, **rights})
    return {"users": users, "vhosts": [{"name": vhost}], "permissions": permissions}


def passwords_from_env(services: list[str]) -> dict[str, str]:
    found = {}
    for service in services:
        variable = f"RABBITMQ_PASSWORD_{service.upper()}"
        value = os.environ.get(variable, "")
        if len(value.encode()) < MIN_PASSWORD_BYTES:
            sys.exit(f"definitions: {variable}: set a password of {MIN_PASSWORD_BYTES}+ bytes")
        found[service] = value
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vhost", default="tickets")
    parser.add_argument("--user-prefix", default="tickets-", help="user name = prefix + service")
    args = parser.parse_args()
    services = list(json.loads(PERMISSIONS.read_text())["users"])
    document = definitions(args.vhost, args.user_prefix, passwords_from_env(services))
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
