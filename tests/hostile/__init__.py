"""Hostile and faulty submissions: `hostile.scenarios` lists them, `build_hostile.py` generates the notebooks."""
