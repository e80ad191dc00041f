"""Versioned event contracts: the envelope, payload models, registry and codec."""
