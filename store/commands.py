"""``beamline store …`` commands. Imports stay inside the commands so that
``beamline --help`` does not pay for SQLAlchemy and Alembic."""

from __future__ import annotations

import typer

DEFAULT_STORE_URL = "sqlite:///beamline.db"

store_app = typer.Typer(help="Beam store maintenance (schema migrations).", no_args_is_help=True)


@store_app.command("migrate")
def migrate_command(
    store: str = typer.Option(DEFAULT_STORE_URL, "--store", help="Store URL (sqlite:///FILE or postgresql+psycopg://…)."),
) -> None:
    """Upgrade the store's schema to the latest revision (creates a fresh store)."""
    from store.engine import display_url
    from store.errors import StoreError

    try:
        from store.beam_store import ensure_tables

        opened = ensure_tables(store)
    except (StoreError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    revision = opened.revision
    opened.close()
    typer.echo(f"store {display_url(store)} at schema revision {revision} (head)")


@store_app.command("status")
def status_command(
    store: str = typer.Option(DEFAULT_STORE_URL, "--store", help="Store URL."),
) -> None:
    """Print the store's schema revision and whether it is at head; exit 1 when it is not."""
    from sqlalchemy.exc import OperationalError

    from store import migrate
    from store.engine import display_url, make_engine

    engine = make_engine(store)
    try:
        current = migrate.current_revision(engine)
    except OperationalError as exc:
        typer.echo(f"error: cannot open store {display_url(store)}: {str(exc.orig or exc).splitlines()[0]}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    head = migrate.head_revision()
    state = "at head" if current == head else f"behind head {head}: run `beamline store migrate --store {display_url(store)}`"
    typer.echo(f"store {display_url(store)} at schema revision {current or 'none'}, {state}")
    if current != head:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the ``store`` sub-app to the ``beamline`` CLI."""
    app.add_typer(store_app, name="store")
