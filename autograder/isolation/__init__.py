"""Where student code runs: the sandbox backends and the warm process."""
