"""What grading produces for people and systems: exports, reports, feedback, Gradescope, CI."""
