"""Plain-language policy tests: the generic Gherkin steps (``steps``) and the ``pmo test`` runner (``runner``)."""
