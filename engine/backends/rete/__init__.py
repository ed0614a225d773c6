"""The durable_rules (Rete) back end."""
from engine.backends.rete.backend import ReteBackend

__all__ = ["ReteBackend"]
