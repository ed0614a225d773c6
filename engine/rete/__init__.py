"""The durable_rules (Rete) back end."""
from engine.rete.backend import ReteBackend

__all__ = ["ReteBackend"]
