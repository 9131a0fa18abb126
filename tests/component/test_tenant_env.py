"""The tenant's environment and connection URL, without Pulumi (and one login on the real server)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from psycopg import sql

from devkit.localpg import LocalPostgres
from railzway.tenant.env import database_url, env_items
from railzway.tenant.spec import VARIABLE_ITEMS


def test_url_has_every_part_in_place() -> None:
    url = database_url("railzway_user_7", "pw", "db.internal", 5433, "railzway_org_7", "require")
    assert url == "postgres://railzway_user_7:pw@db.internal:5433/railzway_org_7?sslmode=require"


def test_password_is_percent_encoded_and_decodes_back() -> None:
    password = "p@ss:w/rd?#%&= x"
    parts = urlsplit(database_url("u", password, "h", 5432, "d", "disable"))
    assert "@" not in parts.netloc.split("@")[0]
    assert unquote(parts.password or "") == password
    assert (parts.hostname, parts.port, parts.path, parts.query) == ("h", 5432, "/d", "sslmode=disable")


def test_ipv6_host_is_bracketed() -> None:
    parts = urlsplit(database_url("u", "p", "::1", 5432, "d", "disable"))
    assert (parts.hostname, parts.port) == ("::1", 5432)


def test_unknown_sslmode_is_refused() -> None:
    with pytest.raises(ValueError, match="sslmode 'off'"):
        database_url("u", "p", "h", 5432, "d", "off")


@pytest.mark.parametrize("port", [0, 65536])
def test_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(ValueError, match="not a TCP port"):
        database_url("u", "p", "h", port, "d", "disable")


def test_env_items_are_the_six_keys_in_order() -> None:
    items = env_items(host="h", port=5432, database="d", user="u", password="p", sslmode="disable")
    assert tuple(items) == VARIABLE_ITEMS


def test_env_items_values() -> None:
    items = env_items(
        host="10.0.0.5",
        port=6432,
        database="railzway_org_1",
        user="railzway_user_1",
        password="Abc-_123",
        sslmode="verify-full",
    )
    assert items == {
        "DB_HOST": "10.0.0.5",
        "DB_PORT": "6432",
        "DB_NAME": "railzway_org_1",
        "DB_USER": "railzway_user_1",
        "DB_PASSWORD": "Abc-_123",
        "DATABASE_URL": "postgres://railzway_user_1:Abc-_123@10.0.0.5:6432/railzway_org_1?sslmode=verify-full",
    }


def test_url_logs_in_on_a_real_server_with_an_awkward_password(
    postgres: LocalPostgres, new_database: Callable[[], str]
) -> None:
    database = urlsplit(new_database()).path.lstrip("/")
    role = f"t_user_{secrets.token_hex(4)}"
    password = "a@b:c/d?e#f%g&h=i j'k\"l"
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
    try:
        url = database_url(role, password, postgres.host, postgres.port, database, "disable")
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT current_user, current_database()").fetchone()
        assert row == (role, database)
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
