"""The offline demo benchmark: synthetic people following PRISM's population, and a written question bank."""
