"""Where student code runs: the isolation backends (backend.py: their interface and registry) and the warm process."""
