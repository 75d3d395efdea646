"""Grading package for the "Función de activación y Maxpooling" exercise."""

__version__ = "0.1.0"
