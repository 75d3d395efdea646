"""The grading engine: knows no lesson; lessons are handed to it."""
