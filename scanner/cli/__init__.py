"""The ``inklock`` command line: ``main`` parses and reports; one module per command group; ``commands`` registers them."""
