"""Beamline: the CLI entry point and configuration shared by the packages."""

__version__ = "0.1.0"
