"""What plugs the engine into nbgrader: preprocessors and nbgrader's own commands."""
