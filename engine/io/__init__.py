"""Reading proposals and writing decisions."""
from engine.io.readers import Row, read_proposals
from engine.io.writers import FORMATS, write_decisions

__all__ = ["Row", "read_proposals", "FORMATS", "write_decisions"]
