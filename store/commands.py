"""``beamline store migrate|status``. Imports stay inside the commands so that
``beamline --help`` does not pay for SQLAlchemy and Alembic.

The store URL is ``--store`` on the sub-command, else the global ``beamline
--store`` / ``BEAMLINE_STORE``, else ``sqlite:///beamline.db``.
"""

from __future__ import annotations

import typer

store_app = typer.Typer(help="Beam store maintenance (schema migrations).", no_args_is_help=True)

STORE_OPTION_HELP = "Store URL (sqlite:///FILE or postgresql+psycopg://…); default: the global --store."


def _resolve(url: str | None) -> str:
    from beamline.config import CONFIG

    return url or CONFIG.store_url


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@store_app.command("migrate")
def migrate_command(store: str | None = typer.Option(None, "--store", help=STORE_OPTION_HELP)) -> None:
    """Upgrade the store's schema to the latest revision (creating a fresh store's tables)."""
    from store.beam_store import ensure_tables
    from store.engine import display_url
    from store.errors import StoreError

    url = _resolve(store)
    try:
        opened = ensure_tables(url)
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
        return
    revision = opened.revision
    opened.close()
    typer.echo(f"store {display_url(url)} at schema revision {revision} (head)")


@store_app.command("status")
def status_command(store: str | None = typer.Option(None, "--store", help=STORE_OPTION_HELP)) -> None:
    """Print the store's schema revision; exit 1 unless it is at head."""
    from sqlalchemy.exc import OperationalError

    from store import migrate
    from store.engine import display_url, make_engine, missing_sqlite_file

    url = _resolve(store)
    head = migrate.head_revision()
    if missing_sqlite_file(url):
        _fail(migrate.behind_message(display_url(url), None, head))
    try:
        engine = make_engine(url)
    except ValueError as exc:
        _fail(str(exc))
        return
    try:
        current = migrate.current_revision(engine)
    except OperationalError as exc:
        _fail(f"cannot open store {display_url(url)}: {str(exc.orig or exc).strip().splitlines()[0]}")
        return
    finally:
        engine.dispose()
    if current == head:
        typer.echo(f"store {display_url(url)} at schema revision {current} (head)")
        return
    _fail(migrate.behind_message(display_url(url), current, head))


def register(app: typer.Typer) -> None:
    """Add the ``store`` sub-app to the ``beamline`` CLI."""
    app.add_typer(store_app, name="store")
