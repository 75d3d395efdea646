"""Lesson packages shipped with the engine; a course maps its assignments to these or to packages of its own."""
