"""The engine's version, in a module of its own: any layer may read it without importing the root package
(whose names load engine.api on first use)."""
__version__ = "0.1.0"
